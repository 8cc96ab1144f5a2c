import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// The operator-facing HTTP surface of API.md: probes, metrics and request ids. What a client and
// the log see when the database goes away is in test/security/database-down.test.ts.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

async function getJson(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

describe('probes', () => {
  it('GET /health answers 200 {"status":"ok"}', async () => {
    const r = await getJson(`${t.url}/health`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
    expect(r.headers.get('content-type')).toContain('application/json');
  });

  it('only /health and /ready are probes: another path ending in /health is not answered as one', async () => {
    for (const path of ['/graphql/health', '/anything/health', '/health/']) {
      const r = await fetch(`${t.url}${path}`);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('x-yoga-id'), path).toBeNull();
    }
  });

  it('GET /ready answers 200 with the database ok (and no redis check without REDIS_URL)', async () => {
    const r = await getJson(`${t.url}/ready`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok', checks: { database: 'ok' } });
  });

  it('GET /ready checks Redis when REDIS_URL is set', async () => {
    const withRedis = await startTestApp({ db: t.db, env: { REDIS_URL: 'redis://127.0.0.1:6379' } });
    try {
      const r = await getJson(`${withRedis.url}/ready`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    } finally {
      await withRedis.close();
    }
  });

  it('GET /ready answers 503 within a few seconds when Redis does not answer; /health stays 200', async () => {
    const deadRedis = await startTestApp({ db: t.db, env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    try {
      const started = Date.now();
      const r = await getJson(`${deadRedis.url}/ready`);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ status: 'unavailable', checks: { database: 'ok', redis: 'down' } });
      expect((await fetch(`${deadRedis.url}/health`)).status).toBe(200);
    } finally {
      await deadRedis.close();
    }
  });
});

describe('GET /metrics', () => {
  it('is Prometheus text with the login counter and GraphQL request durations', async () => {
    await t.register('metrics@example.com');
    await t.gql(LOGIN, { input: { email: 'metrics@example.com', password: 'wrong password' } });
    const response = await fetch(`${t.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toContain('# TYPE portcullis_logins_total counter');
    expect(text).toMatch(/^portcullis_logins_total\{method="PASSWORD",result="failure"\} [1-9]/m);
    expect(text).toContain('# TYPE portcullis_graphql_request_duration_seconds histogram');
    expect(text).toMatch(/^portcullis_graphql_request_duration_seconds_count\{[^}]*operationType="mutation"[^}]*\} [1-9]/m);
  });

  it('never exposes request URLs: no query strings (GET variables), no series per URL', async () => {
    const query = encodeURIComponent('mutation($p: String!) { login(input: { email: "a@example.com", password: $p }) { token } }');
    const variables = encodeURIComponent(JSON.stringify({ p: 'MetricsLeak-Pw-1' }));
    expect((await fetch(`${t.url}/graphql?query=${query}&variables=${variables}`)).status).toBe(405);
    expect((await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ me { id } }')}&nonce=unique-4711`)).status).toBe(200);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/^portcullis_graphql_request_duration_seconds_count\{[^}]*method="GET"[^}]*\} [1-9]/m);
    expect(text).not.toContain('MetricsLeak');
    expect(text).not.toContain('unique-4711');
    expect(text).not.toMatch(/url="/);
  });
});

describe('X-Request-Id', () => {
  it('is on every response, and a new one for each request', async () => {
    const responses = await Promise.all([
      fetch(`${t.url}/health`),
      fetch(`${t.url}/ready`),
      fetch(`${t.url}/metrics`),
      fetch(`${t.url}/no-such-route`),
      fetch(`${t.url}/graphql?query=${encodeURIComponent('{ __typename }')}`),
      fetch(`${t.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ me { id } }"}' }),
    ]);
    const ids = responses.map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('echoes a simple caller-supplied id, in the header and in error bodies', async () => {
    const health = await fetch(`${t.url}/health`, { headers: { 'x-request-id': 'abc-123' } });
    expect(health.headers.get('x-request-id')).toBe('abc-123');
    const r = await t.gql(`{ noSuchField }`, {}, { headers: { 'x-request-id': 'abc-123' } });
    expect(r.headers.get('x-request-id')).toBe('abc-123');
    expect(r.body.errors?.[0]?.extensions.requestId).toBe('abc-123');
  });

  it.each([
    ['with spaces', 'abc 123'],
    ['of 200 characters', 'a'.repeat(200)],
    ['with markup', '<script>x</script>'],
    ['with a quote', 'abc"def'],
  ])('replaces an id %s with one of its own', async (_what, supplied) => {
    const response = await fetch(`${t.url}/health`, { headers: { 'x-request-id': supplied } });
    const id = response.headers.get('x-request-id');
    expect(id).not.toBe(supplied);
    expect(id).toMatch(UUID);
  });

  it('is the extensions.requestId of every error in the body', async () => {
    const anonymous = await t.gql(`mutation { updateProfile(input: { name: "x" }) { name } }`);
    expect(anonymous.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    expect(anonymous.body.errors?.[0]?.extensions.requestId).toBe(anonymous.headers.get('x-request-id'));
    const invalid = await t.gql(`{ me { noSuchField } }`);
    expect(invalid.body.errors?.[0]?.extensions.requestId).toBe(invalid.headers.get('x-request-id'));
    expect(invalid.body.errors?.[0]?.extensions.requestId).toMatch(UUID);
  });
});
