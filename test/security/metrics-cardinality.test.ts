import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// Checklist item 48: /metrics label sets are bounded whatever clients send, and the route is
// behind METRICS_TOKEN when set, absent in production without it. yoga's Prometheus plugin made
// series of every operation name: a thousand fresh names grew the scrape from 265 series to
// 231,292 (24 MB, 2 s per scrape); here the same traffic adds none.

const TOKEN = `metrics-${randomBytes(16).toString('hex')}`;
const BEARER = { authorization: `Bearer ${TOKEN}` };
const RUNTIME = /^portcullis_(process|nodejs)_/;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { METRICS_TOKEN: TOKEN } });
  t.rememberSecret(TOKEN);
});
afterAll(() => t.close());

async function scrape(app: TestApp, headers: Record<string, string> = BEARER) {
  const started = performance.now();
  const response = await fetch(`${app.url}/metrics`, { headers });
  const text = await response.text();
  const ms = performance.now() - started;
  const series = text.split('\n').filter((line) => line && !line.startsWith('#'));
  return { status: response.status, headers: response.headers, text, ms, series, bytes: Buffer.byteLength(text) };
}

const post = (path: string, body: unknown) =>
  fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Request `i` of five kinds, each with a fresh operation name, root alias, URL and (for errors) message. */
function freshRequest(i: string): Promise<Response> {
  switch (Number(i.replace(/\D/g, '')) % 5) {
    case 0:
      return post(`/graphql?fresh=${i}`, { query: `query Fresh_${i} { alias_${i}: me { id } }` });
    case 1:
      return fetch(`${t.url}/graphql?nonce_${i}=1&query=${encodeURIComponent(`query FreshGet_${i} { get_${i}: me { id } }`)}`);
    case 2:
      return post(`/graphql?err=${i}`, { query: `query Err_${i} { noSuchField_${i} }` });
    case 3:
      return post(`/graphql?m=${i}`, { query: `mutation Out_${i} { out_${i}: logout }` });
    default:
      return post(`/graphql?op=${i}`, { query: `query Known { me { id } }`, operationName: `Nope_${i}` });
  }
}

async function sendFresh(prefix: string, count: number) {
  for (let start = 0; start < count; start += 25) {
    const batch = Array.from({ length: Math.min(25, count - start) }, (_, k) => freshRequest(`${prefix}${start + k}`));
    for (const response of await Promise.all(batch)) await response.arrayBuffer();
  }
}

describe('bounded label sets', () => {
  it('1,000 requests with fresh names, aliases, URLs and error messages add no series; the scrape stays small and fast', async () => {
    await sendFresh('warmup', 5); // each label combination once
    const before = await scrape(t);
    await sendFresh('x', 1000);
    const after = await scrape(t);
    // The fastest of three: the cost of a scrape itself, not of whatever else the machine runs.
    const ms = Math.min(after.ms, (await scrape(t)).ms, (await scrape(t)).ms);
    console.info(
      `/metrics: ${before.series.length} series, ${before.bytes} bytes before; ${after.series.length} series, ${after.bytes} bytes after 1,000 fresh names; scrape ${ms.toFixed(1)} ms`,
    );

    // Our own series do not change in number; the runtime's may gain a few (GC kinds, handle types).
    const own = (s: string[]) => s.filter((line) => !RUNTIME.test(line));
    expect(own(after.series).length).toBe(own(before.series).length);
    expect(after.series.length - before.series.length).toBeLessThanOrEqual(40);
    expect(after.bytes).toBeLessThan(100 * 1024);
    expect(ms).toBeLessThan(200);
    for (const chosen of ['Fresh_', 'alias_', 'nonce_', 'noSuchField_', 'Out_', 'Nope_', 'Known', 'url=']) expect(after.text).not.toContain(chosen);

    // Every request was recorded, under the bounded labels.
    const value = (series: string) => Number(after.series.find((line) => line.startsWith(`${series} `))?.split(' ')[1] ?? 0);
    expect(value('portcullis_graphql_requests_total{operationType="query",operation="me",method="POST"}')).toBeGreaterThanOrEqual(201);
    expect(value('portcullis_graphql_requests_total{operationType="query",operation="me",method="GET"}')).toBeGreaterThanOrEqual(201);
    expect(value('portcullis_graphql_requests_total{operationType="query",operation="other",method="POST"}')).toBeGreaterThanOrEqual(201);
    expect(value('portcullis_graphql_requests_total{operationType="mutation",operation="logout",method="POST"}')).toBeGreaterThanOrEqual(201);
    expect(value('portcullis_graphql_requests_total{operationType="unknown",operation="other",method="POST"}')).toBeGreaterThanOrEqual(201);
    expect(value('portcullis_graphql_request_duration_seconds_count{operationType="query",operation="me",method="GET"}')).toBeGreaterThanOrEqual(201);
    // Validation failures carry graphql's own code, outside API.md's list: counted as "other".
    expect(value('portcullis_graphql_errors_total{code="other"}')).toBeGreaterThanOrEqual(201);
    expect(value('portcullis_graphql_errors_total{code="UNAUTHENTICATED"}')).toBeGreaterThanOrEqual(201);
  });

  it("keeps the runtime metrics under one prefix, and none of yoga's per-operation series", async () => {
    const { text } = await scrape(t);
    expect(text).toMatch(/^portcullis_process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^portcullis_nodejs_heap_size_used_bytes /m);
    expect(text).not.toContain('portcullis_process_process_');
    expect(text).not.toMatch(/graphql_(envelop|yoga)_/);
    expect(text).not.toContain('operationName');
  });
});

describe('access (METRICS_TOKEN)', () => {
  it('answers 401 without the bearer token, with a wrong one or another scheme; 200 with it', async () => {
    const refusals: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Basic ${TOKEN}` },
      { authorization: TOKEN },
    ];
    for (const headers of refusals) {
      const r = await scrape(t, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      expect(r.text).toBe('');
    }
    const ok = await scrape(t, { authorization: `bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(ok.text).toContain('# TYPE portcullis_logins_total counter');
    expect(t.logs.join('\n')).not.toContain(TOKEN);
  });

  it('is 404 in production without METRICS_TOKEN, and behind it in production with it; open in development without it', async () => {
    const closed = await startTestApp({ db: t.db, env: { NODE_ENV: 'production' } });
    const guarded = await startTestApp({ db: t.db, env: { NODE_ENV: 'production', METRICS_TOKEN: TOKEN } });
    const open = await startTestApp({ db: t.db });
    try {
      const absent = await scrape(closed, {});
      expect(absent.status).toBe(404);
      expect(absent.text).not.toContain('portcullis_');
      expect((await scrape(closed)).status).toBe(404);
      expect((await scrape(guarded, {})).status).toBe(401);
      const scraped = await scrape(guarded);
      expect(scraped.status).toBe(200);
      expect(scraped.text).toContain('portcullis_graphql_requests_total');
      expect((await scrape(open, {})).status).toBe(200);
    } finally {
      await Promise.all([closed.close(), guarded.close(), open.close()]);
    }
  });
});
