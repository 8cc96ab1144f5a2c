import { GraphQLError, type ExecutionResult } from 'graphql';
import type { YogaLogger, YogaServer } from 'graphql-yoga';
import { AppError } from '../../kernel/errors.ts';
import { currentRequestId } from '../../platform/request-scope.ts';
import { fromAppError, unexpectedError, type ErrorCompleter } from '../errors.ts';

// How an operation sent on a single-connection SSE stream is refused: on the POST that sent it,
// with the HTTP status and the body of API.md's error model, like an HTTP request. graphql-sse
// takes a result without `data` (validation errors, a variable that does not coerce, a text with
// a control character) for execution arguments, and answers "Unable to detect operation AST"; so
// such results are thrown here instead, and the plugin's caller answers them (`refusalResponse`).

/** The errors that stop an operation before it runs. */
export class OperationRefused extends Error {
  readonly errors: readonly GraphQLError[];

  constructor(errors: readonly GraphQLError[]) {
    super('operation refused');
    this.errors = errors;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: any server and user context: only getEnveloped's shape is used
type Yoga = YogaServer<any, any>;
type Enveloped = ReturnType<Yoga['getEnveloped']>;

function refuseWithoutData<T>(result: T): T {
  if (result && typeof result === 'object' && !(Symbol.asyncIterator in result) && !('data' in result)) {
    const { errors } = result as ExecutionResult;
    if (errors?.length) throw new OperationRefused(errors);
  }
  return result;
}

/**
 * The yoga server as the graphql-sse plugin sees it: the same envelop, except that its
 * validation errors and results without `data` are thrown as OperationRefused.
 */
export function refusingOperationsWithoutData(yoga: Yoga): Yoga {
  const getEnveloped = (context: Parameters<Yoga['getEnveloped']>[0]): Enveloped => {
    const enveloped = yoga.getEnveloped(context);
    return {
      ...enveloped,
      validate: (...args) => {
        const errors = enveloped.validate(...args);
        if (errors.length) throw new OperationRefused(errors);
        return errors;
      },
      execute: async (...args) => refuseWithoutData(await enveloped.execute(...args)),
      subscribe: async (...args) => refuseWithoutData(await enveloped.subscribe(...args)),
    };
  };
  return Object.create(yoga, { getEnveloped: { value: getEnveloped } }) as Yoga;
}

function refusedErrors(err: unknown, logger?: YogaLogger): readonly GraphQLError[] {
  if (err instanceof OperationRefused) return err.errors;
  const source = err instanceof GraphQLError && err.originalError instanceof AppError ? err.originalError : err;
  if (source instanceof AppError) return [fromAppError(source)];
  if (source instanceof GraphQLError) return [source];
  logger?.warn('single-connection SSE operation failed', currentRequestId(), err);
  return [unexpectedError()];
}

type HttpExtension = { status?: number; headers?: Record<string, string> };
const httpOf = (error: GraphQLError) => (error.extensions.http ?? {}) as HttpExtension;

/**
 * The response to an operation refused before it ran. Every error goes through the completer
 * (code, requestId, a message that quotes no value); the status is the highest one they carry.
 */
export function refusalResponse(
  err: unknown,
  { completeError, Response, logger }: { completeError: ErrorCompleter; Response: typeof globalThis.Response; logger?: YogaLogger },
): Response {
  const errors = refusedErrors(err, logger).map(completeError);
  const status = Math.max(...errors.map((error) => httpOf(error).status ?? 400));
  const retryAfter = errors.map((error) => httpOf(error).headers?.['Retry-After']).find((value) => value !== undefined);
  // Like an HTTP answer's body: http.status is shown, the headers are sent as headers.
  const body = errors.map((error) => {
    const json = error.toJSON();
    return { ...json, extensions: { ...json.extensions, http: { status: httpOf(error).status ?? status } } };
  });
  const headers = { 'content-type': 'application/json; charset=utf-8', ...(retryAfter !== undefined && { 'retry-after': retryAfter }) };
  return new Response(JSON.stringify({ errors: body }), { status, headers });
}

/** A streamed result with each error completed, as HTTP and WebSocket results are. */
export function completedResult<T extends { errors?: readonly GraphQLError[] }>(result: T, completeError: ErrorCompleter): T {
  return result.errors?.length ? { ...result, errors: result.errors.map(completeError) } : result;
}
