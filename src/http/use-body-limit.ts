import type { Logger } from '../platform/logger.ts';
import { refusal, routePlugin, type Answer, type ServerPlugin } from './route.ts';

const BODILESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses a request body over `maxBytes` before it is read (413), and a body of unknown length
 * (411), so a client cannot make the server buffer an arbitrary document. The refused body is
 * drained, unread, so the connection can serve the client's next request.
 */
export function useBodyLimit(log: Logger, maxBytes: number): ServerPlugin {
  return routePlugin(log, ({ request, req }) => {
    if (BODILESS_METHODS.has(request.method)) return undefined;
    const length = request.headers.get('content-length');
    let answer: Answer | undefined;
    if (length === null) {
      if (request.headers.has('transfer-encoding')) answer = refusal(411, 'A request body must declare its Content-Length');
    } else if (!/^\d+$/.test(length) || Number(length) > maxBytes) {
      answer = refusal(413, `Request body is larger than ${maxBytes} bytes`);
    }
    if (answer) req.resume();
    return answer;
  });
}
