import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectUnchanged, fingerprint, makeAdmin, type SignedIn } from '../helpers/admin.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// Checklist item 57: a control character (C0, DEL, C1) or a lone surrogate in any text argument
// is refused with BAD_USER_INPUT before any resolver runs: no argon2 hash is spent, no row or audit
// event is written, over HTTP and WebSocket, in variables and in the document alike. A NUL byte
// in `name` used to reach PostgreSQL as a 500 after the password had been hashed. Tab and newline
// are accepted where a multi-line text makes sense: an admin lock's reason.

const PASSWORD = 'correct horse battery';
const REFUSED = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\b',
  '\u000b',
  '\f',
  '\r',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0080',
  '\u0085',
  '\u009b',
  '\u009f',
  '\t',
  '\n',
  '\ud800',
  '\udfff',
];
const REGISTER = 'mutation($input: RegisterInput!) { register(input: $input) { token } }';

type Body = { data?: any; errors?: Array<{ message: string; extensions: Record<string, any> }> };
type Send = (query: string, variables?: Record<string, unknown>, token?: string) => Promise<Body>;

let t: TestApp;
let admin: SignedIn;
let user: SignedIn;
beforeAll(async () => {
  t = await startTestApp();
  admin = await makeAdmin(t, 'admin@example.com');
  user = await t.register('user@example.com');
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => t.close());

const overHttp: Send = async (query, variables, token) => {
  const r = await t.gql(query, variables, { token });
  if (r.body.errors?.[0]?.extensions.code === 'BAD_USER_INPUT') expect(r.status).toBe(400);
  return r.body;
};
/** One socket per batch of requests, as a client would keep it. */
function overWebSocket(token?: string): { send: Send; close: () => Promise<void> } {
  const ws = connectWs(t.url, { token });
  return { send: (query, variables) => ws.request(query, variables) as Promise<Body>, close: () => ws.dispose() };
}

function watchServices() {
  const { users, hasher, admin: admins, password, registration } = t.app.services;
  return [
    vi.spyOn(hasher, 'hash'),
    vi.spyOn(hasher, 'verify'),
    vi.spyOn(registration, 'register'),
    vi.spyOn(users, 'updateProfile'),
    vi.spyOn(admins, 'createUser'),
    vi.spyOn(admins, 'updateUser'),
    vi.spyOn(admins, 'lockUser'),
    vi.spyOn(password, 'login'),
  ];
}

function expectRefused(body: Body, where: string, value: string, label: string) {
  expect(body.data ?? null, label).toBeNull();
  expect(body.errors, label).toHaveLength(1);
  const [error] = body.errors!;
  expect(error!.message, label).toMatch(new RegExp(`^Text must not hold a (control character|lone surrogate) \\(${where.replace(/[$.()]/g, '\\$&')}\\)$`));
  expect(error!.message, label).not.toContain(value);
  expect(error!.extensions, label).toMatchObject({ code: 'BAD_USER_INPUT', requestId: expect.any(String) });
}

describe('control characters in text arguments', () => {
  it('57. register: each control character in name, email or password -> BAD_USER_INPUT, over HTTP and WebSocket; no hash, no row', async () => {
    const before = await fingerprint(t);
    const spies = watchServices();
    const ws = overWebSocket();
    try {
      for (const [transport, send] of [
        ['HTTP', overHttp],
        ['WebSocket', ws.send],
      ] as const) {
        for (const field of ['name', 'email', 'password'] as const) {
          for (const [i, c] of REFUSED.entries()) {
            const input = { email: `ctl-${field}-${i}@example.com`, password: PASSWORD, name: 'Ada' };
            input[field] = `${input[field].slice(0, 3)}${c}${input[field].slice(3)}`;
            expectRefused(await send(REGISTER, { input }), `$input.${field}`, input[field], `${transport} ${field} U+${c.charCodeAt(0).toString(16)}`);
          }
        }
      }
    } finally {
      await ws.close();
    }
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    await expectUnchanged(t, before);
  });

  it('57. the same in string literals of the document, escaped or in a block string', async () => {
    const before = await fingerprint(t);
    const spies = watchServices();
    const literals: Array<[string, string]> = [
      ['"Ada\\u0000"', 'RegisterInput.name'],
      ['"\\u001b[31mAda"', 'RegisterInput.name'],
      ['"Ada\\u0085"', 'RegisterInput.name'],
      ['"Ada\\r"', 'RegisterInput.name'],
      ['"""Ada\tLovelace"""', 'RegisterInput.name'],
      ['"""Ada\nLovelace"""', 'RegisterInput.name'],
    ];
    for (const [literal, where] of literals) {
      const query = `mutation { register(input: { email: "literal@example.com", password: "${PASSWORD}", name: ${literal} }) { token } }`;
      expectRefused(await overHttp(query), where, '\u0000', literal);
    }
    // A lone surrogate written in the document is a syntax error of GraphQL's own lexer, not a crash.
    const surrogate = await t.gql(`mutation { register(input: { email: "s@example.com", password: "${PASSWORD}", name: "Ada\ud800" }) { token } }`, undefined, {
      headers: { accept: 'application/graphql-response+json' },
    });
    expect(surrogate.status).toBe(400);
    expect(surrogate.body.errors![0]!.extensions).toMatchObject({ code: 'GRAPHQL_PARSE_FAILED' });
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    await expectUnchanged(t, before);
  });

  it('57. updateProfile and the admin fields refuse them too; nothing is written, nobody is locked', async () => {
    const before = await fingerprint(t);
    const spies = watchServices();
    const cases: Array<[string, Record<string, unknown>, string, string]> = [
      ['mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }', { input: { name: 'Ada\u0000' } }, '$input.name', user.token],
      [
        'mutation($input: AdminCreateUserInput!) { adminCreateUser(input: $input) { id } }',
        { input: { email: 'new\u0000@example.com', password: PASSWORD } },
        '$input.email',
        admin.token,
      ],
      [
        'mutation($input: AdminCreateUserInput!) { adminCreateUser(input: $input) { id } }',
        { input: { email: 'new@example.com', name: 'N\u001b', password: PASSWORD } },
        '$input.name',
        admin.token,
      ],
      [
        'mutation($input: AdminCreateUserInput!) { adminCreateUser(input: $input) { id } }',
        { input: { email: 'new@example.com', password: `${PASSWORD}\n` } },
        '$input.password',
        admin.token,
      ],
      [
        'mutation($id: ID!, $input: AdminUpdateUserInput!) { adminUpdateUser(id: $id, input: $input) { id } }',
        { id: user.userId, input: { name: 'Ada\u009b' } },
        '$input.name',
        admin.token,
      ],
      [
        'mutation($id: ID!, $reason: String) { adminLockUser(id: $id, reason: $reason) { locked } }',
        { id: user.userId, reason: 'spam\u0000' },
        '$reason',
        admin.token,
      ],
      [
        'mutation($id: ID!, $reason: String) { adminLockUser(id: $id, reason: $reason) { locked } }',
        { id: user.userId, reason: 'spam\r\n' },
        '$reason',
        admin.token,
      ],
      ['mutation($id: ID!) { adminLockUser(id: $id) { locked } }', { id: `${user.userId}\u0000` }, '$id', admin.token],
      ['query($q: String) { adminUsers(query: $q) { totalCount } }', { q: 'ad\u0000' }, '$q', admin.token],
    ];
    for (const [query, variables, where, token] of cases) {
      expectRefused(await overHttp(query, variables, token), where, '\u0000', `HTTP ${where}`);
      const ws = overWebSocket(token);
      try {
        expectRefused(await ws.send(query, variables), where, '\u0000', `WebSocket ${where}`);
      } finally {
        await ws.close();
      }
    }
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    await expectUnchanged(t, before);
  });

  it("57. tab and newline are accepted in an admin lock's reason (and only there); ordinary text is accepted everywhere", async () => {
    const reason = 'Spam reports:\n\t- one\n\t- two';
    const lock = 'mutation($id: ID!, $reason: String) { adminLockUser(id: $id, reason: $reason) { locked lockReason } }';
    const locked = await overHttp(lock, { id: user.userId, reason }, admin.token);
    expect(locked.errors).toBeUndefined();
    expect(locked.data.adminLockUser).toEqual({ locked: true, lockReason: reason });
    const [row] = await t.db.query('SELECT "lockReason" FROM "User" WHERE id = $1', [user.userId]);
    expect(row.lockReason).toBe(reason);
    const unlock = await overHttp('mutation($id: ID!) { adminUnlockUser(id: $id) { locked } }', { id: user.userId }, admin.token);
    expect(unlock.data.adminUnlockUser.locked).toBe(false);

    const hash = vi.spyOn(t.app.services.hasher, 'hash');
    const name = 'Zoë Ünal 名前 😀 ~';
    const registered = await overHttp(REGISTER, { input: { email: 'zoe@example.com', password: PASSWORD, name } });
    expect(registered.errors).toBeUndefined();
    expect(hash).toHaveBeenCalledTimes(1);
    const [zoe] = await t.db.query('SELECT name FROM "User" WHERE email = $1', ['zoe@example.com']);
    expect(zoe.name).toBe(name);
  });
});
