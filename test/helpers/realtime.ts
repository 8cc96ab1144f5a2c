import WebSocket from 'ws';
import type { TestApp } from './app.ts';
import { eventually } from './eventually.ts';
import type { WsConnection } from '../../scripts/ws-connection.ts';

// Helpers of the realtime tests: deadlines on promises, a raw graphql-transport-ws socket for
// protocol-level checks, a recorded graphql-ws subscription.

export const SESSION_REVOKED = `subscription { sessionRevoked { sessionId userId reason revokedAt } }`;
export const PASSWORD = 'correct horse battery';

/** Whether `promise` settles within `ms` (for "this has not happened" checks). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s value, or a rejection naming `what` when it takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what = 'the promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RawSocket {
  socket: WebSocket;
  /** Parsed messages from the server, in order. */
  messages: any[];
  /** Resolves once the upgrade succeeded; rejects with the HTTP status when it was refused. */
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string; at: number }>;
  send(message: unknown): void;
  waitFor(type: string, ms?: number): Promise<any>;
}

/** A bare `ws` socket speaking graphql-transport-ws by hand (no client library in between). */
export function rawSocket(httpUrl: string, options: { headers?: Record<string, string> } = {}): RawSocket {
  const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers: options.headers });
  const messages: any[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused with ${res.statusCode}`), { status: res.statusCode }));
      socket.terminate();
    });
  });
  opened.catch(() => {});
  socket.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })),
  );
  return {
    socket,
    messages,
    opened,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    async waitFor(type, ms = 3000) {
      await eventually(() => messages.some((m) => m.type === type), `a ${type} message`, ms);
      return messages.find((m) => m.type === type);
    },
  };
}

export interface RecordedSubscription {
  /** `event:<sessionId>:<reason>`, `error`, `complete` and `closed:<code>`, in the order they happened. */
  timeline: string[];
  events: Array<{ sessionId: string; userId: string; reason: string; revokedAt: string }>;
  errors: any[];
  has(sessionId: string): boolean;
}

/** Subscribes to sessionRevoked on a graphql-ws connection and records everything that happens. */
export function recordWs(ws: WsConnection, query = SESSION_REVOKED): RecordedSubscription {
  const recorded: RecordedSubscription = {
    timeline: [],
    events: [],
    errors: [],
    has: (id) => recorded.events.some((e) => e.sessionId === id),
  };
  ws.client.subscribe(
    { query },
    {
      next: (value) => {
        if (value.errors) recorded.errors.push(...value.errors);
        const event = (value.data as any)?.sessionRevoked;
        if (event) {
          recorded.events.push(event);
          recorded.timeline.push(`event:${event.sessionId}:${event.reason}`);
        }
      },
      error: (err) => {
        recorded.errors.push(err);
        recorded.timeline.push('error');
      },
      complete: () => void recorded.timeline.push('complete'),
    },
  );
  void ws.closed.then((code) => recorded.timeline.push(`closed:${code}`));
  return recorded;
}

/** Signs in again as `email`; returns the new session's token and id. */
export async function login(t: TestApp, email: string, password = PASSWORD): Promise<{ token: string; sessionId: string }> {
  const r = await t.gql(`mutation($input: LoginInput!) { login(input: $input) { token session { id } } }`, { input: { email, password } });
  if (!r.body.data?.login) throw new Error(`login failed: ${JSON.stringify(r.body.errors)}`);
  return { token: r.body.data.login.token, sessionId: r.body.data.login.session.id };
}

/**
 * Waits until the given subscribers of `email`'s user are live, without a fixed sleep: opens and
 * logs out throwaway sessions until each subscriber has seen one of them. Returns their ids.
 */
export async function untilSubscribed(t: TestApp, email: string, ready: Array<(sessionIds: string[]) => boolean>): Promise<string[]> {
  const ids: string[] = [];
  await eventually(
    async () => {
      const s = await login(t, email);
      ids.push(s.sessionId);
      await t.gql(`mutation { logout }`, {}, { token: s.token });
      await new Promise((r) => setTimeout(r, 20));
      return ready.every((isReady) => isReady(ids));
    },
    'the subscriptions to be live',
    5000,
  );
  return ids;
}

/** The session row as the database has it. */
export async function sessionRow(t: TestApp, id: string): Promise<{ revokedAt: Date | null; revokeReason: string | null } | undefined> {
  const rows = await t.db.query(`SELECT "revokedAt", "revokeReason" FROM "Session" WHERE id = $1`, [id]);
  return rows[0];
}
