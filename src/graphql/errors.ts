import { GraphQLError } from 'graphql';
import { map, type Plugin } from 'graphql-yoga';
import { AppError, errorExtensions, UNEXPECTED_MESSAGE } from '../kernel/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { currentRequestId, requestScope } from '../platform/request-scope.ts';
import { getSchema } from './schema.ts';
import { withoutSuggestions } from './security/hardening.ts';
import { withSafeValueMessage } from './security/value-messages.ts';

// The error model of API.md: every error carries extensions.code and extensions.requestId, and
// http.status / retryAfter where they apply. Unexpected errors are masked; their cause is logged
// with the same request id. Every error is logged once.

export const INTERNAL = 'INTERNAL_SERVER_ERROR' as const;

/** An AppError as the GraphQL error every transport answers with. */
export function fromAppError(err: AppError, source?: GraphQLError): GraphQLError {
  return new GraphQLError(err.message, {
    nodes: source?.nodes,
    path: source?.path,
    originalError: err,
    extensions: { ...errorExtensions(err.code, { retryAfter: err.retryAfter }), requestId: currentRequestId() },
  });
}

/** A masked error: the cause is logged by whoever caught it, under the same request id. */
export function unexpectedError(source?: GraphQLError, requestId = currentRequestId()): GraphQLError {
  return new GraphQLError(UNEXPECTED_MESSAGE, {
    nodes: source?.nodes,
    path: source?.path,
    extensions: { ...errorExtensions(INTERNAL), requestId },
  });
}

/** yoga's `maskedErrors.maskError`: called for errors thrown in resolvers and the context factory. */
export function createErrorMasker(log: Logger) {
  return (error: unknown): Error => {
    const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
    if (original instanceof AppError) return fromAppError(original, error instanceof GraphQLError ? error : undefined);
    // GraphQL's own errors (argument coercion, scalar parsing) describe the caller's input.
    if (original instanceof GraphQLError) return error as GraphQLError;
    const requestId = currentRequestId();
    log.error({ err: original, requestId, path: (error as GraphQLError).path }, 'unexpected error');
    return unexpectedError(error instanceof GraphQLError ? error : undefined, requestId);
  };
}

export type ErrorCompleter = (error: GraphQLError) => GraphQLError;

/**
 * Adds code and requestId to an error (parse and validation errors included) and logs it once.
 * A message about an input value is rebuilt so it never quotes the value (value-messages.ts).
 */
export function createErrorCompleter(log: Logger, { hideSuggestions = false, schema = getSchema() } = {}): ErrorCompleter {
  return (error) => {
    const requestId = currentRequestId();
    const code = (error.extensions.code as string | undefined) ?? 'BAD_USER_INPUT';
    if (code !== INTERNAL) {
      // Our own messages never hold input; GraphQL's coercion messages may echo it, so they stay out.
      const message = error.originalError instanceof AppError ? error.message : undefined;
      log.info({ requestId, errorCode: code, path: error.path?.join('.'), error: message }, 'request error');
    }
    const safe = withSafeValueMessage(error, { schema, hideSuggestions });
    const message = hideSuggestions ? withoutSuggestions(safe.message) : safe.message;
    // yoga puts the JSON parser's own message (which quotes the body) in extensions.originalError.
    const { originalError: parserDetail, ...extensions } = error.extensions;
    if (error.extensions.code && error.extensions.requestId && message === error.message && !parserDetail) return error;
    return new GraphQLError(message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      originalError: safe.originalError,
      extensions: { ...extensions, code, requestId },
    });
  };
}

/**
 * Completes the errors of every HTTP result, each result of a stream (SSE, multipart) included;
 * the WebSocket transport uses the same completer.
 */
export function useErrorExtensions(complete: ErrorCompleter): Plugin {
  const completeOne = (r: unknown) => {
    const errors = (r as { errors?: readonly GraphQLError[] }).errors;
    if (!errors?.length) return r;
    const completed = errors.map(complete);
    return { ...(r as object), errors: completed, stringify: (sanitized: unknown) => stringifyWithStatus(sanitized, completed) };
  };
  return {
    onResultProcess({ result, setResult }) {
      if (Symbol.asyncIterator in (result as object)) {
        // Streamed results are pulled later, outside the request's scope: its id is carried along.
        const scope = { requestId: currentRequestId() };
        setResult(map((r: unknown) => requestScope.run(scope, () => completeOne(r)))(result as AsyncIterable<unknown>) as typeof result);
        return;
      }
      const results = Array.isArray(result) ? result : [result];
      const mapped = results.map(completeOne);
      setResult((Array.isArray(result) ? mapped : mapped[0]) as typeof result);
    },
  };
}

/**
 * yoga drops `extensions.http` when it serialises a result; API.md promises `http.status` in the
 * body, so the status (never the headers) is put back while serialising.
 */
function stringifyWithStatus(sanitized: unknown, originals: readonly GraphQLError[]): string {
  const result = sanitized as { errors?: GraphQLError[] };
  if (!result.errors) return JSON.stringify(result);
  const errors = result.errors.map((e, i) => {
    const json = e.toJSON() as { extensions?: Record<string, unknown> };
    const status = (originals[i]?.extensions.http as { status?: number } | undefined)?.status;
    if (status) json.extensions = { ...json.extensions, http: { status } };
    return json;
  });
  return JSON.stringify({ ...result, errors });
}
