import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Probes {
  /** Each throws when its dependency does not answer. */
  checks: Record<string, () => Promise<void>>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

/** Liveness and readiness; returns false when the route is not one of them. */
export async function serveProbe(req: IncomingMessage, res: ServerResponse, path: string, probes: Probes): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (path === '/health') {
    json(res, 200, { status: 'ok' });
    return true;
  }
  if (path === '/ready') {
    const results = await Promise.all(
      Object.entries(probes.checks).map(async ([name, check]) => {
        const ok = await withTimeout(check(), 2000).then(() => true, () => false);
        return [name, ok ? 'ok' : 'down'] as const;
      }),
    );
    const ready = results.every(([, state]) => state === 'ok');
    json(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable', checks: Object.fromEntries(results) });
    return true;
  }
  return false;
}

/**
 * Refuses a request body over `maxBytes` before it is read (413), and a body of unknown length
 * (411), so a client cannot make the server buffer an arbitrary document. Returns true when it
 * answered.
 */
export function refuseOversizedBody(req: IncomingMessage, res: ServerResponse, maxBytes: number, requestId: string): boolean {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return false;
  const length = req.headers['content-length'];
  const error = (status: number, message: string) => {
    json(res, status, { errors: [{ message, extensions: { code: 'BAD_USER_INPUT', requestId, http: { status } } }] });
    req.resume();
    return true;
  };
  if (length === undefined) {
    return req.headers['transfer-encoding'] ? error(411, 'A request body must declare its Content-Length') : false;
  }
  if (!/^\d+$/.test(length) || Number(length) > maxBytes) return error(413, `Request body is larger than ${maxBytes} bytes`);
  return false;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
