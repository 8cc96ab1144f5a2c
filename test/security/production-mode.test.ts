import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// Checklist item 8: with NODE_ENV=production, introspection is refused and no error carries a
// "Did you mean" hint, on each of the three transports (HTTP, WebSocket, SSE), and GraphiQL is
// not served. The same requests against a development app show the hints and the schema, so
// every assertion here fails when the production switch stops doing its job.

type Result = { data?: any; errors?: Array<{ message: string; extensions?: Record<string, any> }> };
type Request = { query: string; variables?: Record<string, unknown> };
type Transport = (app: TestApp, request: Request) => Promise<Result>;

async function overHttp(app: TestApp, request: Request): Promise<Result> {
  const response = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  return (await response.json()) as Result;
}

async function overWebSocket(app: TestApp, request: Request): Promise<Result> {
  const ws = connectWs(app.url);
  try {
    return await ws.request(request.query, request.variables);
  } finally {
    await ws.dispose();
  }
}

/** GraphQL over SSE, "distinct connections" mode: one POST, one stream of `next` events. */
async function overSse(app: TestApp, request: Request): Promise<Result> {
  const response = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(request),
  });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const text = await response.text();
  expect(text).toMatch(/^event: complete$/m);
  const results = [...text.matchAll(/^event: next\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as Result);
  expect(results).toHaveLength(1);
  return results[0]!;
}

const transports: Array<[string, Transport]> = [
  ['HTTP', overHttp],
  ['WebSocket', overWebSocket],
  ['SSE', overSse],
];

const INTROSPECTION: Request[] = [{ query: '{ __schema { types { name } } }' }, { query: '{ __type(name: "User") { name } }' }];
const MISSPELT: Request[] = [
  { query: '{ me { emial } }' },
  { query: 'mutation { login(inptu: { email: "a@example.com", password: "whatever-1" }) { token } }' },
  { query: '{ me { ...F } } fragment F on Usr { id }' },
  // Coerced at execution, not validation: the hint comes from variable coercion.
  {
    query: 'mutation($input: LoginInput!) { login(input: $input) { token } }',
    variables: { input: { emial: 'a@example.com', password: 'whatever-1' } },
  },
];

let prod: TestApp;
let dev: TestApp;
beforeAll(async () => {
  prod = await startTestApp({ env: { NODE_ENV: 'production' } });
  dev = await startTestApp({ db: prod.db });
});
afterAll(async () => {
  await dev?.close();
  await prod?.close();
});

async function userCount() {
  return (await prod.db.query<{ n: number }>('SELECT count(*)::int AS n FROM "User"'))[0]!.n;
}

describe('production mode', () => {
  it('8. introspection with NODE_ENV=production over HTTP, WebSocket and SSE -> rejected on all three; a misspelt field gives no "Did you mean"', async () => {
    expect(prod.config.production).toBe(true);
    const users = await userCount();
    const login = vi.spyOn(prod.app.services.password, 'login');
    for (const [name, send] of transports) {
      for (const request of INTROSPECTION) {
        const r = await send(prod, request);
        expect(r.data, `${name} ${request.query}`).toBeUndefined();
        expect(r.errors?.length, `${name} ${request.query}`).toBeGreaterThanOrEqual(1);
        expect(r.errors![0]!.message).toMatch(/introspection has been disabled/);
        expect(r.errors![0]!.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', requestId: expect.any(String) });
        expect(JSON.stringify(r)).not.toMatch(/"(AuthPayload|LoginInput|Session)"/);
      }
      for (const request of MISSPELT) {
        const r = await send(prod, request);
        expect(r.data ?? null, `${name} ${request.query}`).toBeNull();
        expect(r.errors?.length, `${name} ${request.query}`).toBeGreaterThanOrEqual(1);
        expect(JSON.stringify(r.errors), `${name} ${request.query}`).not.toMatch(/did you mean/i);
      }
      // __typename is not introspection of the schema and keeps working.
      expect(await send(prod, { query: '{ __typename }' }), name).toEqual({ data: { __typename: 'Query' } });
    }
    // None of the refused logins ran.
    expect(login).not.toHaveBeenCalled();
    login.mockRestore();
    expect(await userCount()).toBe(users);

    // GraphiQL is not served in production.
    const page = await fetch(`${prod.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.headers.get('content-type') ?? '').not.toContain('text/html');
    expect(await page.text()).not.toMatch(/graphiql/i);
  });

  it('8. (contrast) outside production the same requests show the schema and the hints, and GraphiQL is served', async () => {
    expect(dev.config.production).toBe(false);
    for (const [name, send] of transports) {
      const schema = await send(dev, INTROSPECTION[0]!);
      expect(schema.errors, name).toBeUndefined();
      expect(schema.data.__schema.types.map((type: { name: string }) => type.name)).toContain('AuthPayload');
      expect((await send(dev, INTROSPECTION[1]!)).data, name).toEqual({ __type: { name: 'User' } });
      for (const request of MISSPELT) {
        const r = await send(dev, request);
        expect(JSON.stringify(r.errors), `${name} ${request.query}`).toMatch(/Did you mean/);
      }
    }
    const page = await fetch(`${dev.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toMatch(/graphiql/i);
  });
});
