import { getOperationAST, Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type SelectionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../platform/metrics.ts';

// Request metrics of our own, in place of yoga's Prometheus plugin, which labelled its series with
// the operation name: every fresh name a client sent became new series kept forever, and the
// scrape grew without bound. Here each HTTP request is recorded once, and every label comes from
// a fixed set: the operation type, the first root field when the schema has it, the method, and
// the error codes of API.md.

export const OTHER = 'other';

export interface OperationLabels {
  /** query, mutation, subscription; "unknown" when the request carried no runnable operation. */
  operationType: string;
  /** The first root field (by its name, never its alias) when the schema has it, else "other". */
  operation: string;
}

const NO_OPERATION: OperationLabels = { operationType: 'unknown', operation: OTHER };
const META_FIELDS = new Set(['__typename', '__schema', '__type']);
const METHODS = new Set(['GET', 'POST', 'PUT', 'OPTIONS', 'HEAD', 'DELETE']);
/** API.md's error codes, and the code of masked errors. */
const ERROR_CODES = new Set([
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'CONFLICT',
  'LOCKED',
  'SECOND_FACTOR_REQUIRED',
  'RATE_LIMITED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'INTERNAL_SERVER_ERROR',
]);

/** The bounded labels of the operation that `operationName` selects in `document`. */
export function operationLabels(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): OperationLabels {
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation) return NO_OPERATION;
  const field = firstRootField(document, operation.selectionSet);
  const known = field !== undefined && (META_FIELDS.has(field) || schema.getRootType(operation.operation)?.getFields()[field] !== undefined);
  return { operationType: operation.operation, operation: known ? field : OTHER };
}

/**
 * The name of the first field in document order, looking through inline fragments and fragment
 * spreads. Each selection and each fragment is visited at most once, so the walk is linear in the
 * document even before validation has refused fragment cycles.
 */
function firstRootField(document: DocumentNode, selectionSet: SelectionSetNode): string | undefined {
  const pending: SelectionNode[] = [...selectionSet.selections].reverse();
  const expanded = new Set<string>();
  let fragments: Map<string, FragmentDefinitionNode> | undefined;
  while (pending.length) {
    const selection = pending.pop()!;
    if (selection.kind === Kind.FIELD) return selection.name.value;
    let inner: SelectionSetNode | undefined;
    if (selection.kind === Kind.INLINE_FRAGMENT) inner = selection.selectionSet;
    else if (!expanded.has(selection.name.value)) {
      expanded.add(selection.name.value);
      fragments ??= new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));
      inner = fragments.get(selection.name.value)?.selectionSet;
    }
    if (inner) for (let i = inner.selections.length - 1; i >= 0; i--) pending.push(inner.selections[i]!);
  }
  return undefined;
}

/** The one-time secret each field spends (at most one sensitive auth field runs per operation). */
const TOKEN_PURPOSES: Record<string, string> = {
  loginWithMagicLink: 'magic_link',
  loginWithEmailCode: 'email_code',
  resetPassword: 'password_reset',
  verifyEmail: 'email_verification',
  completeOAuth: 'oauth',
};

export const errorCodeLabel = (code: unknown): string => (typeof code === 'string' && ERROR_CODES.has(code) ? code : OTHER);

const methodLabel = (method: string) => (METHODS.has(method) ? method : OTHER);

/** Records every HTTP request yoga answers: duration and count by bounded labels, errors by code. */
export function useRequestMetrics(metrics: Metrics): Plugin {
  const startedAt = new WeakMap<Request, number>();
  const labelsOf = new WeakMap<Request, OperationLabels>();
  return {
    onRequest({ request }) {
      startedAt.set(request, performance.now());
    },
    onValidate({ params, context }) {
      // WebSocket operations come through the same envelop without an HTTP request: not counted here.
      const { request, params: graphqlParams } = context as { request?: Request; params?: { operationName?: unknown } };
      if (!request) return;
      const name = graphqlParams?.operationName;
      labelsOf.set(request, operationLabels(params.schema, params.documentAST, typeof name === 'string' ? name : undefined));
    },
    onResultProcess({ request, result }) {
      // Streams (SSE subscriptions) deliver their events later; their errors are not counted here.
      if (Symbol.asyncIterator in (result as object)) return;
      for (const single of Array.isArray(result) ? result : [result]) {
        const errors = (single as { errors?: ReadonlyArray<{ extensions?: { code?: unknown } }> }).errors ?? [];
        for (const error of errors) {
          const code = errorCodeLabel(error.extensions?.code);
          metrics.graphqlErrors.inc({ code });
          if (code === 'TOKEN_INVALID' || code === 'TOKEN_EXPIRED') {
            const purpose = TOKEN_PURPOSES[labelsOf.get(request)?.operation ?? ''] ?? OTHER;
            metrics.tokenFailures.inc({ purpose, reason: code === 'TOKEN_INVALID' ? 'invalid' : 'expired' });
          }
        }
      }
    },
    onResponse({ request }) {
      const started = startedAt.get(request);
      if (started === undefined) return;
      const labels = { ...(labelsOf.get(request) ?? NO_OPERATION), method: methodLabel(request.method) };
      metrics.graphqlRequests.inc(labels);
      metrics.graphqlDuration.observe(labels, (performance.now() - started) / 1000);
    },
  };
}
