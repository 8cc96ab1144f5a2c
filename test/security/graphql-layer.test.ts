import { buildSchema, parse, validate } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultDocumentLimits, documentLimitsRule } from '../../src/graphql/security/document-limits.ts';
import { fastHashing, startTestApp, type TestApp } from '../helpers/app.ts';
import { failuresOf } from '../helpers/throttle.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// Checklist "GraphQL layer" (items 1-6 and 9): each refused request is checked for its answer and
// for what did not happen (no row, no service call, no session lookup). The body limit, the cost
// limit and introspection under the limits are in document-limits.test.ts.
// Requests ask for application/graphql-response+json, under which a request error keeps its HTTP
// status (with plain application/json, GraphQL-over-HTTP answers parse and validation errors 200).

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
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) as { data?: any; errors?: any[] } };
}
const postQuery = (query: string, options: { token?: string } = {}) =>
  post(JSON.stringify({ query }), options.token ? { authorization: `Bearer ${options.token}` } : {});

const register = (email: string, selection = 'token') => `mutation { register(input: { email: "${email}", password: "${PASSWORD}" }) { ${selection} } }`;
const userCount = async (email: string) => (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM "User" WHERE email = $1', [email]))[0]!.n;

/** Every way a request can reach a resolver, the hasher or the database. */
function watchServices() {
  const { password, hasher, sessions, registration } = t.app.services;
  return {
    register: vi.spyOn(registration, 'register'),
    login: vi.spyOn(password, 'login'),
    hash: vi.spyOn(hasher, 'hash'),
    verify: vi.spyOn(hasher, 'verify'),
    verifyDummy: vi.spyOn(hasher, 'verifyDummy'),
    authenticate: vi.spyOn(sessions, 'authenticate'),
    listLive: vi.spyOn(sessions, 'listLive'),
  };
}
function expectNothingRan(spies: ReturnType<typeof watchServices>) {
  for (const [name, spy] of Object.entries(spies)) expect(spy, `${name} was called`).not.toHaveBeenCalled();
}
function expectNoInternals(text: string) {
  for (const leak of [/stack/i, /\bat \S+ \(/, /\.[jt]s\b/, /node_modules/, /originalError/, /SyntaxError/, /JSON at position/]) {
    expect(text).not.toMatch(leak);
  }
}
const logsOf = (requestId: string | null) => t.logs.map((line) => JSON.parse(line) as Record<string, any>).filter((entry) => entry.requestId === requestId);

describe('GraphQL layer', () => {
  it('1. malformed JSON body, or {"query":"{"} -> 400, generic message, no stack trace', async () => {
    const spies = watchServices();
    const malformed = await post(`{"query": ${JSON.stringify(register('json@example.com'))}, "variables": {"p": 'Secret-in-body-1'}}`);
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([
      {
        message: 'POST body sent invalid JSON.',
        extensions: { code: 'BAD_REQUEST', requestId: malformed.headers.get('x-request-id'), http: { status: 400 } },
      },
    ]);
    expect(malformed.text).not.toContain('Secret-in-body');
    expectNoInternals(malformed.text);

    const unparsable = await post('{"query":"{"}');
    expect(unparsable.status).toBe(400);
    expect(unparsable.body.data).toBeUndefined();
    expect(unparsable.body.errors).toHaveLength(1);
    expect(unparsable.body.errors![0]).toMatchObject({
      message: 'Syntax Error: Expected Name, found <EOF>.',
      extensions: { code: 'GRAPHQL_PARSE_FAILED', requestId: unparsable.headers.get('x-request-id'), http: { status: 400 } },
    });
    expectNoInternals(unparsable.text);
    // Plain application/json: GraphQL-over-HTTP wants 200 here; the body still says 400.
    const legacy = await post('{"query":"{"}', { accept: 'application/json' });
    expect(legacy.body.errors![0].extensions.http).toEqual({ status: 400 });

    expectNothingRan(spies);
    expect(await userCount('json@example.com')).toBe(0);
    // Logged once as a caller's error at info level; never as an unexpected error with a stack.
    for (const r of [malformed, unparsable]) {
      const lines = logsOf(r.headers.get('x-request-id'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 30, msg: 'request error' });
      expect(JSON.stringify(lines[0])).not.toMatch(/stack|Secret-in-body/);
    }
  });

  it('2. a query nested deeper than the depth limit -> rejected at validation; no resolver or SQL runs', async () => {
    // Our schema nests at most 3 deep (register { user { id } }), so the boundary 10/11 is checked
    // on the rule itself, on the wired-up server with unknown fields, and for real with a lower limit.
    const schema = buildSchema('type Node { id: ID! child: Node } type Query { root: Node }');
    const nested = (depth: number) => `{ root ${'{ child '.repeat(depth - 2)}{ id }${' }'.repeat(depth - 2)} }`;
    const errorsAt = (doc: string) => validate(schema, parse(doc), [documentLimitsRule(defaultDocumentLimits)]).map((e) => e.message);
    expect(errorsAt(nested(10))).toEqual([]);
    expect(errorsAt(nested(11))).toEqual(['Query is nested too deeply (11; at most 10)']);
    // Through fragments and inline fragments, which add no depth of their own.
    const viaFragments = `{ root { child { ...A } } } fragment A on Node { child { ... on Node { child { ...B } } } }
      fragment B on Node { child { child { child { child { child { child { id } } } } } } }`;
    expect(errorsAt(viaFragments)).toEqual(['Query is nested too deeply (11; at most 10)']);

    const deepUnknown = (depth: number) => `{ ${Array.from({ length: depth - 1 }, (_, i) => `f${i} {`).join(' ')} x ${'}'.repeat(depth - 1)} }`;
    const eleven = await postQuery(deepUnknown(11));
    expect(eleven.status).toBe(400);
    expect(eleven.body.errors!.map((e) => e.message)).toContain('Query is nested too deeply (11; at most 10)');
    expect(eleven.body.errors!.find((e) => e.message.startsWith('Query is nested'))!.extensions.code).toBe('BAD_USER_INPUT');
    const ten = await postQuery(deepUnknown(10));
    expect(ten.body.errors!.map((e) => e.message).filter((m) => m.includes('nested'))).toEqual([]);

    const shallow = await startTestApp({
      db: t.db,
      configure: (c) => fastHashing({ ...c, graphqlLimits: { ...c.graphqlLimits, maxDepth: 2 } }),
    });
    try {
      const { hasher, registration } = shallow.app.services;
      const registerSpy = vi.spyOn(registration, 'register');
      const hashSpy = vi.spyOn(hasher, 'hash');
      const tooDeep = await shallow.gql(register('deep@example.com', 'user { id }'));
      expect(tooDeep.body.errors).toHaveLength(1);
      expect(tooDeep.body.errors![0]!.message).toBe('Query is nested too deeply (3; at most 2)');
      expect(tooDeep.body.data).toBeUndefined();
      expect(registerSpy).not.toHaveBeenCalled();
      expect(hashSpy).not.toHaveBeenCalled();
      expect(await userCount('deep@example.com')).toBe(0);
      // At the limit the same mutation runs, so the spies and the count above can see one.
      expect((await shallow.gql(register('deep@example.com', 'token'))).body.data.register.token).toBeTruthy();
      expect(registerSpy).toHaveBeenCalledTimes(1);
      expect(await userCount('deep@example.com')).toBe(1);
    } finally {
      await shallow.close();
    }
  });

  it('3. a 20,000-character document or more tokens than the limit -> rejected before execution', async () => {
    const spies = watchServices();
    const long = await postQuery(`${register('long@example.com')} #${'x'.repeat(20_000)}`);
    expect(long.status).toBe(413);
    expect(long.body.errors![0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', requestId: long.headers.get('x-request-id') } });
    // One long string literal is a single token; the length limit still applies.
    const literal = await postQuery(`mutation { register(input: { email: "lit@example.com", name: "${'n'.repeat(20_000)}" }) { token } }`);
    expect(literal.status).toBe(413);
    // 1001 tokens.
    const tokens = await postQuery(`mutation { register(input: { email: "tok@example.com", password: "${PASSWORD}" }) { token ${'token '.repeat(985)}} }`);
    expect(tokens.status).toBe(400);
    expect(tokens.body.errors![0]).toMatchObject({
      message: 'Syntax Error: Document contains more than 1000 tokens. Parsing aborted.',
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
    });
    const ws = connectWs(t.url);
    try {
      const overWs = await ws.request(`${register('wslong@example.com')} #${'x'.repeat(20_000)}`);
      expect(overWs.data).toBeUndefined();
      expect(overWs.errors![0].message).toMatch(/more than 10000/);
    } finally {
      await ws.dispose();
    }
    expectNothingRan(spies);
    for (const email of ['long@example.com', 'lit@example.com', 'tok@example.com', 'wslong@example.com']) expect(await userCount(email)).toBe(0);

    // At both limits exactly, the document runs.
    const limit = t.config.graphqlLimits.maxDocumentChars;
    const padded = (doc: string) => `${doc} #${'x'.repeat(limit - doc.length - 2)}`;
    expect((await postQuery(padded('{ me { id } }'))).body).toEqual({ data: { me: null } });
    const thousand = await postQuery(`{ ${'me { id } '.repeat(249)}__typename __typename }`);
    expect(thousand.body).toEqual({ data: { me: null, __typename: 'Query' } });
  });

  it('4. two login fields in one operation (aliases) -> the whole operation is rejected; no password is checked', async () => {
    const { userId } = await t.register('alias@example.com');
    const spies = watchServices();
    const login = (alias: string, password: string) => `${alias}: login(input: { email: "alias@example.com", password: "${password}" }) { token }`;
    t.rememberSecret('wrong password 1');
    const documents = [
      `mutation { ${login('a', 'wrong password 1')} ${login('b', PASSWORD)} }`,
      `mutation { ...Two } fragment Two on Mutation { ${login('a', 'wrong password 1')} ${login('b', PASSWORD)} }`,
      `mutation { ${login('a', 'wrong password 1')} ...One } fragment One on Mutation { ${login('b', PASSWORD)} }`,
      `mutation { ${login('a', 'wrong password 1')} ... on Mutation { ${login('b', PASSWORD)} } }`,
      `mutation { ${login('a', PASSWORD)} r: register(input: { email: "alias2@example.com" }) { token } }`,
    ];
    for (const doc of documents) {
      const r = await postQuery(doc);
      expect(r.status, doc).toBe(400);
      expect(r.body.data).toBeUndefined();
      expect(r.body.errors).toHaveLength(1);
      expect(r.body.errors![0]).toMatchObject({
        message: 'At most one sign-in, registration, token or mail operation per request',
        extensions: { code: 'BAD_USER_INPUT' },
      });
    }
    const ws = connectWs(t.url);
    try {
      const overWs = await ws.request(documents[0]!);
      expect(overWs.data).toBeUndefined();
      expect(overWs.errors![0].message).toBe('At most one sign-in, registration, token or mail operation per request');
    } finally {
      await ws.dispose();
    }
    expectNothingRan(spies);
    expect(await failuresOf(t.db, 'alias@example.com')).toBe(0);
    const sessions = await t.db.query('SELECT count(*)::int AS n FROM "Session" WHERE "userId" = $1', [userId]);
    expect(sessions[0].n).toBe(1);
    expect(await userCount('alias2@example.com')).toBe(0);

    // One login per operation is checked (the spies and the counter can see it).
    const single = await t.gql(`mutation($input: LoginInput!) { login(input: $input) { token } }`, {
      input: { email: 'alias@example.com', password: 'wrong password 1' },
    });
    expect(single.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    expect(spies.login).toHaveBeenCalledTimes(1);
    expect(spies.verify).toHaveBeenCalledTimes(1);
    expect(await failuresOf(t.db, 'alias@example.com')).toBe(1);
  });

  it('5. more aliases than the alias limit on a cheap field -> rejected', async () => {
    const { token } = await t.register('aliases@example.com');
    const spies = watchServices();
    const aliased = (n: number, field = 'me { id }') => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
    const sixteen = await postQuery(aliased(16), { token });
    expect(sixteen.status).toBe(400);
    expect(sixteen.body.errors).toEqual([expect.objectContaining({ message: 'Too many aliases (16; at most 15)' })]);
    expect(sixteen.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    // Aliases inside a fragment count once per spread.
    const viaFragment = await postQuery(`{ ...Eight ...Eight } fragment Eight on Query { ${aliased(8).slice(2, -2)} }`, { token });
    expect(viaFragment.body.errors![0].message).toBe('Too many aliases (16; at most 15)');
    const sessions = await postQuery(aliased(16, 'mySessions { id }'), { token });
    expect(sessions.body.errors![0].message).toBe('Too many aliases (16; at most 15)');
    expectNothingRan(spies);

    const fifteen = await postQuery(aliased(15), { token });
    expect(fifteen.body.errors).toBeUndefined();
    expect(Object.keys(fifteen.body.data)).toHaveLength(15);
    await postQuery(aliased(15, 'mySessions { id }'), { token });
    expect(spies.listLive).toHaveBeenCalledTimes(15);
  });

  it('6. a JSON array of operations (batching) -> rejected; nothing executed', async () => {
    const spies = watchServices();
    const batch = JSON.stringify([{ query: register('batch1@example.com') }, { query: register('batch2@example.com') }]);
    for (const accept of ['application/graphql-response+json', 'application/json']) {
      const r = await post(batch, { accept });
      expect(r.status).toBe(400);
      expect(r.body.errors).toEqual([
        { message: 'Batching is not supported.', extensions: { code: 'BAD_REQUEST', requestId: r.headers.get('x-request-id'), http: { status: 400 } } },
      ]);
    }
    expectNothingRan(spies);
    expect(await userCount('batch1@example.com')).toBe(0);
    expect(await userCount('batch2@example.com')).toBe(0);
  });

  it('9. a mutation through GET /graphql?query=… -> 405; nothing executed', async () => {
    const spies = watchServices();
    const get = (params: Record<string, string>) => fetch(`${t.url}/graphql?${new URLSearchParams(params)}`);
    const plain = await get({ query: register('get@example.com') });
    // The one operation picked by operationName out of a document that also holds a query.
    const picked = await get({ query: `query Q { me { id } } ${register('get2@example.com').replace('mutation', 'mutation M')}`, operationName: 'M' });
    for (const response of [plain, picked]) {
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      const body = (await response.json()) as { errors: any[] };
      expect(body.errors[0].extensions).toMatchObject({ code: 'BAD_REQUEST', requestId: response.headers.get('x-request-id') });
    }
    expectNothingRan(spies);
    expect(await userCount('get@example.com')).toBe(0);
    expect(await userCount('get2@example.com')).toBe(0);
    // A query over GET still works.
    expect(await (await get({ query: 'query Q { me { id } }' })).json()).toEqual({ data: { me: null } });
  });
});
