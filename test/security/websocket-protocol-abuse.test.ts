import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { PASSWORD, SESSION_REVOKED, rawSocket, within } from '../helpers/realtime.ts';

// SECURITY-CHECKLIST.md item 39 (graphql-ws protocol abuse); items 37, 38, 40 and 41 are in
// sessions-realtime.test.ts.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  t.app.server.closeAllConnections();
  await t.close();
});

it('39. graphql-ws protocol abuse: subscribe before ack -> 4401; a second connection_init -> 4429; no init within 3 s -> 4408; an unknown token in init -> 4403', async () => {
  const user = await t.register('protocol@example.com');
  const init = (token: string) => ({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
  // Opened first: its 3 s run while the other cases are checked.
  const silent = rawSocket(t.url);
  await silent.opened;
  const openedAt = Date.now();

  const early = rawSocket(t.url);
  await early.opened;
  early.send({ id: '1', type: 'subscribe', payload: { query: SESSION_REVOKED } });
  expect((await within(early.closed, 2000)).code).toBe(4401);
  expect(early.messages).toEqual([]);
  // connection_init sent, but the subscribe does not wait for the ack (the session lookup is not done).
  const eager = rawSocket(t.url);
  await eager.opened;
  eager.send(init(user.token));
  eager.send({ id: '1', type: 'subscribe', payload: { query: SESSION_REVOKED } });
  expect((await within(eager.closed, 2000)).code).toBe(4401);
  expect(eager.messages.filter((m) => m.type !== 'connection_ack')).toEqual([]);

  const twice = rawSocket(t.url);
  await twice.opened;
  twice.send(init(user.token));
  await twice.waitFor('connection_ack');
  twice.send(init(user.token));
  expect((await within(twice.closed, 2000)).code).toBe(4429);

  for (const payload of [
    { authorization: `Bearer ${randomBytes(32).toString('base64url')}` },
    { authorization: `Basic ${Buffer.from(`protocol@example.com:${PASSWORD}`).toString('base64')}` },
    { authorization: user.token }, // no scheme
    { authorization: 42 },
  ]) {
    const bad = rawSocket(t.url);
    await bad.opened;
    bad.send({ type: 'connection_init', payload });
    const { code } = await within(bad.closed, 2000, `a close after an init with ${JSON.stringify(payload)}`);
    expect({ payload, code }).toEqual({ payload, code: 4403 });
    expect(bad.messages).toEqual([]);
  }

  const good = rawSocket(t.url);
  await good.opened;
  good.send(init(user.token));
  expect((await good.waitFor('connection_ack')).type).toBe('connection_ack');
  good.socket.close(1000);

  const { code, at } = await within(silent.closed, 5000, 'the init timeout');
  expect(code).toBe(4408);
  expect(at - openedAt).toBeGreaterThanOrEqual(2900);
  expect(silent.messages).toEqual([]);
});
