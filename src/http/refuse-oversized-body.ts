import type { IncomingMessage, ServerResponse } from 'node:http';
import { toErrorBody } from '../kernel/errors.ts';
import { json } from './json-answer.ts';

/**
 * Refuses a request body over `maxBytes` before it is read (413), and a body of unknown length
 * (411), so a client cannot make the server buffer an arbitrary document. Returns true when it
 * answered.
 */
export function refuseOversizedBody(req: IncomingMessage, res: ServerResponse, maxBytes: number, requestId: string): boolean {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return false;
  const length = req.headers['content-length'];
  const error = (status: number, message: string) => {
    json(res, status, toErrorBody('BAD_USER_INPUT', message, { requestId, status }));
    req.resume();
    return true;
  };
  if (length === undefined) {
    return req.headers['transfer-encoding'] ? error(411, 'A request body must declare its Content-Length') : false;
  }
  if (!/^\d+$/.test(length) || Number(length) > maxBytes) return error(413, `Request body is larger than ${maxBytes} bytes`);
  return false;
}
