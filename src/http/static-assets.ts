import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

// Files served as they are (account pages, GraphiQL): an ETag for revalidation, and a gzip copy
// made once for the large ones, so a browser on a slow link does not fetch 9 MB of GraphiQL.

const gzipAsync = promisify(gzip);
/** Smaller than this, compression saves less than it costs. */
const GZIP_FROM_BYTES = 1024;

export interface StaticAsset {
  body: Uint8Array;
  gzipped?: Uint8Array;
  contentType: string;
  etag: string;
}

export async function prepareAsset(content: string | Uint8Array, contentType: string): Promise<StaticAsset> {
  const body = typeof content === 'string' ? Buffer.from(content) : content;
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  const gzipped = body.byteLength >= GZIP_FROM_BYTES ? new Uint8Array(await gzipAsync(body, { level: 6 })) : undefined;
  return { body, gzipped, contentType, etag };
}

/** Security headers of every page we serve; `csp` is the page's own Content-Security-Policy. */
export function pageSecurityHeaders(csp: string): Record<string, string> {
  return {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    // Mailed links carry their secret in the query string: never pass it on to another site.
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}

/** 200 with the asset (gzip when the client takes it), or 304 when the client's copy is current. */
export function assetResponse(Response: typeof globalThis.Response, request: Request, asset: StaticAsset, headers: Record<string, string>): Response {
  const common = { ...headers, etag: asset.etag, vary: 'accept-encoding', 'x-content-type-options': 'nosniff' };
  if (request.headers.get('if-none-match') === asset.etag) return new Response(null, { status: 304, headers: common });
  const takesGzip = asset.gzipped && /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
  const body = takesGzip ? asset.gzipped! : asset.body;
  return new Response(request.method === 'HEAD' ? null : (body as Uint8Array<ArrayBuffer>), {
    status: 200,
    headers: { ...common, 'content-type': asset.contentType, ...(takesGzip && { 'content-encoding': 'gzip' }) },
  });
}
