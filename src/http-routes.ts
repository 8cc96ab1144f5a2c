import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { toErrorBody } from './kernel/errors.ts';

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

export interface MetricsAccess {
  registry: Registry;
  /** METRICS_TOKEN: when set, a scrape must bring it as a bearer token. */
  token?: string;
  production: boolean;
}

/**
 * GET /metrics (API.md): with METRICS_TOKEN set, only for `Authorization: Bearer <token>` (401
 * otherwise); without it, open outside production and absent (404) in production. Returns false
 * when the route is not this one.
 */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, path: string, access: MetricsAccess): Promise<boolean> {
  if (path !== '/metrics' || req.method !== 'GET') return false;
  if (!access.token && access.production) {
    res.writeHead(404).end();
    return true;
  }
  if (access.token && !bearerMatches(req.headers.authorization, access.token)) {
    res.writeHead(401, { 'www-authenticate': 'Bearer', 'cache-control': 'no-store' }).end();
    return true;
  }
  const text = await access.registry.metrics();
  res.writeHead(200, { 'content-type': access.registry.contentType, 'cache-control': 'no-store' });
  res.end(text);
  return true;
}

/** Compares digests of equal length, so the time taken says nothing about the token. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
  if (!presented) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

const JSON_MEDIA_TYPES = new Set(['application/json', 'application/graphql-response+json']);

/**
 * Only JSON bodies run (API.md): a form (urlencoded or multipart) or text/plain POST is what a
 * cross-site page can send without a CORS preflight, so in cookie mode it would act in the
 * visitor's name. Any other or missing content type gets 415 before the body is read. Applied to
 * every POST that reaches GraphQL, whatever spelling of its path yoga would accept. An accepted
 * type is handed on as plain application/json: yoga matches it case-sensitively and has no parser
 * for the graphql-response+json spelling, and reads every JSON body as UTF-8 anyway.
 */
export function refuseNonJsonBody(req: IncomingMessage, res: ServerResponse, requestId: string): boolean {
  if (req.method !== 'POST') return false;
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (JSON_MEDIA_TYPES.has(mediaType)) {
    req.headers['content-type'] = 'application/json';
    return false;
  }
  const status = 415;
  json(res, status, toErrorBody('BAD_USER_INPUT', 'Request bodies must be application/json', { requestId, status }));
  req.resume();
  return true;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
