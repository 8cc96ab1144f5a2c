import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import { toErrorBody, UNEXPECTED_MESSAGE } from '../kernel/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { currentRequestId } from '../platform/request-scope.ts';

// Every HTTP route beside GraphQL is a yoga plugin made here: it looks at the request in onRequest
// and either answers it (GraphQL never runs) or lets it pass to the next plugin.

export interface RouteRequest {
  request: Request;
  url: URL;
  /** The node request under it: the peer address, and a body to drain when refused unread. */
  req: IncomingMessage;
}

/** What a route answers. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string | null;
}

/**
 * A route: undefined, synchronously, when the request is for another route (so the hot path of
 * GraphQL pays no promise per route), else its answer.
 */
export type Route = (at: RouteRequest) => Answer | Promise<Answer> | undefined;

/** A JSON answer that no cache keeps. */
export const jsonAnswer = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

/** The envelope of API.md for a request refused before GraphQL runs. */
export const refusal = (status: number, message: string): Answer =>
  jsonAnswer(status, toErrorBody('BAD_USER_INPUT', message, { requestId: currentRequestId(), status }));

export type ServerPlugin = Plugin<Record<string, unknown>, { req: IncomingMessage }>;

/**
 * The plugin of one route. A route that fails answers the 500 envelope and logs why: left to
 * itself, the server adapter would answer with the error's stack.
 */
export function routePlugin(log: Logger, route: Route): ServerPlugin {
  return {
    onRequest({ request, url, serverContext, fetchAPI, endResponse }) {
      let answer: ReturnType<Route>;
      try {
        answer = route({ request, url, req: serverContext.req });
      } catch (err) {
        answer = failure(log, err);
      }
      // Most requests are for another route: they leave here having allocated nothing.
      if (answer === undefined) return;
      const send = (given: Answer) => endResponse(new fetchAPI.Response(given.body ?? null, { status: given.status, headers: given.headers }));
      if (!('then' in answer)) return send(answer);
      return answer.then(send, (err: unknown) => send(failure(log, err)));
    },
  };
}

/** The 500 envelope of a route that failed; the error itself goes to the log only. */
function failure(log: Logger, err: unknown): Answer {
  const requestId = currentRequestId();
  log.error({ err, requestId }, 'request failed');
  return jsonAnswer(500, toErrorBody('INTERNAL_SERVER_ERROR', UNEXPECTED_MESSAGE, { requestId }));
}
