import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';
import { assetResponse, pageSecurityHeaders, prepareAsset, type StaticAsset } from './static-assets.ts';

// GraphiQL from our own dependencies: @graphql-yoga/render-graphiql ships the whole app as strings
// (script, styles, Monaco's workers, favicon) meant to be inlined into one page with blob: workers.
// We serve each as a file of our own under a versioned path instead, so the page needs no CDN,
// no inline script and no blob:, and its CSP allows only 'self'.

/** The README's first operation ("A first session in GraphiQL"): what a newcomer runs first. */
export const GRAPHIQL_DEFAULT_DOCUMENT = `mutation {
  register(input: { email: "ada@example.com", password: "correct horse battery", name: "Ada" }) {
    token
    user { id email name role hasPassword }
    session { id expiresAt }
  }
}
`;

const require = createRequire(import.meta.url);
const startScript = readFileSync(new URL('./graphiql/start.js', import.meta.url));
const packageVersion = (require('@graphql-yoga/render-graphiql/package.json') as { version: string }).version;
/** Changes with the package and with our start script, so the assets can be cached for good. */
const ASSETS_PATH = `/graphiql/${packageVersion}-${createHash('sha256').update(startScript).digest('hex').slice(0, 8)}/`;

/**
 * Every source is 'self' (fonts and icons included, see extractDataUrls). Inline style is the one
 * exception, for styles only: Monaco sets style attributes and writes its syntax colours into a
 * style element; without it GraphiQL works but loses its colours, with 233 refusals in the console.
 * Scripts stay 'self' only, with no inline script.
 */
export const GRAPHIQL_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; font-src 'self'; connect-src 'self'; " +
  "worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const graphiqlOptions: GraphiQLOptions = { title: 'Portcullis', defaultQuery: GRAPHIQL_DEFAULT_DOCUMENT };

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page yoga answers GET /graphql with (Accept: text/html): references to our files only. */
export function renderGraphiQL(options?: GraphiQLOptions): string {
  // In a JSON block, only "<" could end the element early.
  const json = JSON.stringify(options ?? {}).replace(/</g, '\\u003c');
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(options?.title ?? 'GraphiQL')}</title>` +
    `<link rel="icon" href="${ASSETS_PATH}favicon.ico"><link rel="stylesheet" href="${ASSETS_PATH}graphiql.css"></head>` +
    `<body id="body" class="no-focus-outline"><noscript>GraphiQL needs JavaScript.</noscript><div id="root"></div>` +
    `<script type="application/json" id="graphiql-options">${json}</script>` +
    `<script src="${ASSETS_PATH}graphiql.js"></script><script type="module" src="${ASSETS_PATH}start.js"></script></body></html>`
  );
}

type Assets = Map<string, StaticAsset>;
let assets: Promise<Assets> | undefined;

interface BundleFile {
  name: string;
  body: Uint8Array;
  contentType: string;
}

/**
 * The bundle's exported strings, read from its file without evaluating it: importing the module
 * costs about 48 MB of heap that would stay for good; this keeps only the bytes we serve. Each
 * export is `export const name = "<JSON string>";` (checked by a test against the pinned version).
 */
async function readBundle(): Promise<Record<string, string>> {
  const file = join(dirname(require.resolve('@graphql-yoga/render-graphiql/package.json')), 'esm', 'graphiql.js');
  const parts = (await readFile(file, 'utf8')).split(/^export const (\w+) = /m);
  const exports: Record<string, string> = {};
  for (let i = 1; i < parts.length; i += 2) exports[parts[i]!] = JSON.parse(parts[i + 1]!.trim().replace(/;$/, '')) as string;
  for (const name of ['js', 'css', 'favicon', 'editorWorkerService', 'jsonWorker', 'graphqlWorker']) {
    if (typeof exports[name] !== 'string') throw new Error(`@graphql-yoga/render-graphiql ${packageVersion}: no "${name}" in ${file}`);
  }
  return exports;
}

/** Loaded on first use: a service nobody opens GraphiQL on holds none of it. */
function loadAssets(): Promise<Assets> {
  assets ??= (async () => {
    const bundle = await readBundle();
    const js = 'text/javascript; charset=utf-8';
    const text = (name: string, content: string, contentType = js): BundleFile => ({ name, body: Buffer.from(content), contentType });
    const favicon = /^data:([^;]+);base64,(.*)$/s.exec(bundle.favicon!);
    const { css, files } = extractDataUrls(bundle.css!);
    const all: BundleFile[] = [
      text('graphiql.js', bundle.js!),
      text('graphiql.css', css, 'text/css; charset=utf-8'),
      ...files,
      text('editor-worker.js', bundle.editorWorkerService!),
      text('json-worker.js', bundle.jsonWorker!),
      text('graphql-worker.js', bundle.graphqlWorker!),
      { name: 'start.js', body: startScript, contentType: js },
      ...(favicon ? [{ name: 'favicon.ico', body: Buffer.from(favicon[2]!, 'base64'), contentType: favicon[1]! }] : []),
    ];
    return new Map(await Promise.all(all.map(async (f) => [f.name, await prepareAsset(f.body, f.contentType)] as const)));
  })();
  // A failure is not kept: the next request tries again.
  assets.catch(() => (assets = undefined));
  return assets;
}

/**
 * The stylesheet carries its fonts and icons as data: URLs; each becomes a file of its own next to
 * it (same bytes), so font-src and img-src need nothing but 'self'.
 */
function extractDataUrls(source: string): { css: string; files: BundleFile[] } {
  const files: BundleFile[] = [];
  const byContent = new Map<string, string>();
  const css = source.replace(/url\((["']?)data:([a-z]+\/[a-z0-9+.-]+);base64,([A-Za-z0-9+/=]+)\1\)/g, (_match, _quote, type: string, data: string) => {
    let name = byContent.get(data);
    if (!name) {
      name = `inline-${files.length}.${type.split('/')[1]!.replace('+xml', '')}`;
      byContent.set(data, name);
      files.push({ name, body: Buffer.from(data, 'base64'), contentType: type });
    }
    return `url(${name})`;
  });
  return { css, files };
}

/** Serves the GraphiQL files and puts a strict CSP on the GraphiQL page itself. */
export function useGraphiQLAssets(): Plugin {
  return {
    // Synchronous for every other path: a GraphQL request pays no promise here.
    onRequest({ request, url, fetchAPI, endResponse }) {
      if (!url.pathname.startsWith('/graphiql/') || (request.method !== 'GET' && request.method !== 'HEAD')) return;
      const name = url.pathname.startsWith(ASSETS_PATH) ? url.pathname.slice(ASSETS_PATH.length) : undefined;
      return (async () => {
        const asset = name ? (await loadAssets()).get(name) : undefined;
        if (!asset) return endResponse(new fetchAPI.Response(null, { status: 404 }));
        endResponse(assetResponse(fetchAPI.Response, request, asset, { 'cache-control': 'public, max-age=31536000, immutable' }));
      })();
    },
    onResponse({ request, response }) {
      if (request.method !== 'GET' || !response.headers.get('content-type')?.startsWith('text/html')) return;
      if (new URL(request.url).pathname.replace(/\/$/, '') !== '/graphql') return;
      for (const [name, value] of Object.entries(pageSecurityHeaders(GRAPHIQL_CSP))) response.headers.set(name, value);
      response.headers.set('cache-control', 'no-cache');
    },
  };
}
