import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { adminDatabaseUrl } from '../helpers/database.ts';
import { connectWs, type WsConnection } from '../../scripts/ws-connection.ts';

// Checklist item 12: what a client and the log see when the database goes away in the middle of
// the service's life (the database is renamed away, so every new connection fails), and that the
// service recovers when it is back.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;

type LogEntry = { level: number; requestId?: string; err?: { message?: string } };
const errorsLoggedFor = (app: TestApp, requestId: string | null) =>
  app.logs.map((line) => JSON.parse(line) as LogEntry).filter((entry) => entry.requestId === requestId && entry.level >= 50);

async function getJson(url: string) {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as any };
}

describe('the database goes down while the service runs', () => {
  let down: TestApp;
  let adminClient: pg.Client;
  let offline: string | null = null;
  let socket: WsConnection;
  let token: string;

  beforeAll(async () => {
    down = await startTestApp();
    adminClient = new pg.Client({ connectionString: adminDatabaseUrl });
    await adminClient.connect();
  });
  afterAll(async () => {
    await socket?.dispose();
    if (offline) await adminClient.query(`ALTER DATABASE ${offline} RENAME TO ${down.db.name}`);
    await adminClient.end();
    await down.close();
  });

  it('12. the database is down while a query runs -> INTERNAL_SERVER_ERROR with a request id, no SQL or stack in the response; the cause is logged with the same request id', async () => {
    ({ token } = await down.register('down@example.com'));
    expect((await down.gql(`{ me { email } }`, {}, { token })).body.data.me.email).toBe('down@example.com');
    socket = connectWs(down.url, { token });
    expect((await socket.request(`{ me { email } }`)).data.me.email).toBe('down@example.com');

    await adminClient.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [down.db.name]);
    offline = `${down.db.name}_offline`;
    await adminClient.query(`ALTER DATABASE ${down.db.name} RENAME TO ${offline}`);

    const response = await fetch(`${down.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      // `mySessions` reads the database (`me` may be answered from the session cache).
      body: JSON.stringify({ query: '{ mySessions { id } }' }),
    });
    const text = await response.text();
    const body = JSON.parse(text);
    const requestId = response.headers.get('x-request-id');
    expect(response.status).toBe(500);
    expect(body.data ?? null).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].message).toBe('Unexpected error.');
    expect(body.errors[0].extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', requestId });
    expect(requestId).toMatch(UUID);
    for (const leak of [/select/i, /prisma/i, /econnrefused/i, /database/i, /portcullis_test/, /stack/i, /\.ts\b/, /\bat /, /3D000/]) {
      expect(text).not.toMatch(leak);
    }

    const logged = errorsLoggedFor(down, requestId);
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged[0]!.err?.message).toMatch(/does not exist/);

    // The same over SSE: the stream carries the masked error and its request id.
    const sse = await fetch(`${down.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      // `mySessions` reads the database (`me` may be answered from the session cache).
      body: JSON.stringify({ query: '{ mySessions { id } }' }),
    });
    const stream = await sse.text();
    const sseRequestId = sse.headers.get('x-request-id');
    const event = JSON.parse(/^event: next\ndata: (.*)$/m.exec(stream)![1]!);
    expect(event.errors).toHaveLength(1);
    expect(event.errors[0]).toMatchObject({
      message: 'Unexpected error.',
      path: ['mySessions'],
      extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: sseRequestId, http: { status: 500 } },
    });
    expect(stream).not.toMatch(/prisma|does not exist|portcullis_test|\bat /i);
    expect(errorsLoggedFor(down, sseRequestId)[0]!.err?.message).toMatch(/does not exist/);

    // Readiness follows the database.
    const ready = await getJson(`${down.url}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).toBe('down');
  });

  it('12. (WebSocket) the database is down while a query runs -> INTERNAL_SERVER_ERROR with a request id; the cause is logged with the same request id', async () => {
    expect(offline).not.toBeNull();
    // `mySessions` reads the database (`me` is answered from the socket's session, known since connection_init).
    const result = await socket.request(`{ mySessions { id } }`);
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    const requestId = result.errors![0].extensions.requestId;
    expect(requestId).toMatch(UUID);
    expect(errorsLoggedFor(down, requestId)[0]!.err?.message).toMatch(/does not exist/);
    // A valid token is not refused as if it were revoked (4403 makes a client drop its session).
    const fresh = connectWs(down.url, { token });
    const closedWith = await Promise.race([fresh.closed, new Promise((resolve) => setTimeout(resolve, 1000, 'open'))]);
    await fresh.dispose();
    expect(closedWith).not.toBe(4403);
  });

  it('12. (after) recovers once the database is back, with the same account', async () => {
    expect(offline).not.toBeNull();
    await adminClient.query(`ALTER DATABASE ${offline} RENAME TO ${down.db.name}`);
    offline = null;
    expect((await getJson(`${down.url}/ready`)).status).toBe(200);
    const login = await down.gql(LOGIN, { input: { email: 'down@example.com', password: 'correct horse battery' } });
    expect(login.body.data.login.token).toBeTruthy();
  });
});
