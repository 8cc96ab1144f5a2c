import { buildSchema, getIntrospectionQuery, parse, validate } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultDocumentLimits, documentLimitsRule } from '../../src/graphql/security/document-limits.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// The request limits of config.graphqlLimits that are not a checklist line of their own: the body
// limit (100 KB), the cost limit (5000) and GraphiQL's introspection query under all of them.
// Depth, aliases and tokens are in graphql-layer.test.ts (checklist items 2, 3 and 5).

const PASSWORD = 'correct horse battery';
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  t.rememberSecret(PASSWORD);
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => t.close());

async function post(body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { data?: any; errors?: any[] } };
}
const postQuery = (query: string, options: { token?: string } = {}) =>
  post(JSON.stringify({ query }), options.token ? { authorization: `Bearer ${options.token}` } : {});
const userCount = async (email: string) => (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM "User" WHERE email = $1', [email]))[0]!.n;

function watchServices() {
  const { hasher, sessions, registration } = t.app.services;
  return {
    register: vi.spyOn(registration, 'register'),
    hash: vi.spyOn(hasher, 'hash'),
    authenticate: vi.spyOn(sessions, 'authenticate'),
    listLive: vi.spyOn(sessions, 'listLive'),
  };
}
function expectNothingRan(spies: ReturnType<typeof watchServices>) {
  for (const [name, spy] of Object.entries(spies)) expect(spy, `${name} was called`).not.toHaveBeenCalled();
}

describe('document and body limits', () => {
  it('a body over 100 KB -> 413 with a JSON error carrying extensions.code and requestId; nothing executed', async () => {
    const spies = watchServices();
    const mutation = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;
    const body = (email: string, size: number) => {
      const base = JSON.stringify({ query: mutation, variables: { input: { email, password: PASSWORD }, pad: '' } });
      return base.replace('"pad":""', `"pad":"${'x'.repeat(size - base.length)}"`);
    };
    const over = await post(body('big@example.com', 100 * 1024 + 1));
    expect(over.status).toBe(413);
    expect(over.headers.get('content-type')).toContain('application/json');
    expect(over.body.errors).toEqual([
      {
        message: 'Request body is larger than 102400 bytes',
        extensions: { code: 'BAD_USER_INPUT', requestId: over.headers.get('x-request-id'), http: { status: 413 } },
      },
    ]);
    expectNothingRan(spies);
    expect(await userCount('big@example.com')).toBe(0);
    // Exactly 100 KB is read and runs.
    const at = await post(body('big@example.com', 100 * 1024));
    expect(at.body.data.register.token).toBeTruthy();
    expect(await userCount('big@example.com')).toBe(1);
  });

  it('cost: a document over the cost limit -> rejected, counted through fragments and first/last (also as variables)', async () => {
    const schema = buildSchema(`type User { id: ID! friends(first: Int, last: Int): [User!]! }
      type Query { users(first: Int): [User!]! }`);
    const errorsAt = (doc: string) => validate(schema, parse(doc), [documentLimitsRule(defaultDocumentLimits)]).map((e) => e.message);
    expect(errorsAt('{ users(first: 100) { id friends(first: 10) { id } } }')).toEqual([]); // 100 * (1 + 1 + 10 * 2) = 2200
    expect(errorsAt('{ users(first: 100) { id friends(last: 30) { id } } }')).toEqual(['Query is too expensive (cost 6200; at most 5000)']);
    expect(errorsAt('query($n: Int) { users(first: $n) { friends(first: $n) { id } } }')).toEqual(['Query is too expensive (cost 20100; at most 5000)']);

    // On the server: repeated fragment spreads multiply (F3 costs 2000, F2 200, F0 2).
    const { token } = await t.register('cost@example.com');
    const spies = watchServices();
    let fragments = 'fragment F0 on Query { mySessions { id } }';
    for (let i = 1; i <= 3; i++) fragments += ` fragment F${i} on Query { ${`...F${i - 1} `.repeat(10)}}`;
    const atLimit = `{ ...F3 ...F3 ${'...F2 '.repeat(5)}}`;
    const over = await postQuery(`${atLimit.slice(0, -1)} ...F0 } ${fragments}`, { token });
    expect(over.status).toBe(400);
    expect(over.body.errors).toEqual([expect.objectContaining({ message: 'Query is too expensive (cost 5002; at most 5000)' })]);
    expectNothingRan(spies);
    const ok = await postQuery(`${atLimit} ${fragments}`, { token });
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.mySessions).toHaveLength(1);
    expect(spies.listLive).toHaveBeenCalledTimes(1);
  });

  it("GraphiQL's standard introspection query passes the limits outside production", async () => {
    const query = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    });
    const r = await postQuery(query);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.__schema.queryType.name).toBe('Query');
    expect(r.body.data.__schema.types.map((type: { name: string }) => type.name)).toContain('AuthPayload');
  });
});
