import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

// The client side's tools: requests bounded by the attack's deadline, answers tallied by HTTP
// status (and the first error code) or by WebSocket outcome.

export interface Tally {
  sent: number;
  /** "200", "400 BAD_USER_INPUT", "error", "close 4403", "no answer"… -> count */
  answers: Record<string, number>;
  /** A figure of its own (a scrape's time and size). */
  note?: string;
}

export interface AttackContext {
  url: string;
  /** Bearer token of a signed-in user made directly in the database. */
  token: string;
  metricsToken: string;
  /** Epoch ms: every loop and request stops by then. */
  deadline: number;
  tally: Tally;
  /** Called when the bench has measured: sockets and streams held open until then are closed. */
  onRelease(release: () => void | Promise<void>): void;
}

export const count = (tally: Tally, answer: string, n = 1) => {
  tally.answers[answer] = (tally.answers[answer] ?? 0) + n;
};

export const timeLeft = (ctx: AttackContext) => Math.max(0, ctx.deadline - Date.now());

/** Sends one HTTP request and tallies its answer: status, plus the first GraphQL error code. */
export async function send(ctx: AttackContext, path: string, init: RequestInit): Promise<{ status: number; text: string } | null> {
  if (timeLeft(ctx) === 0) return null;
  ctx.tally.sent++;
  try {
    const response = await fetch(`${ctx.url}${path}`, { ...init, signal: AbortSignal.timeout(timeLeft(ctx)) });
    const text = await response.text();
    count(ctx.tally, `${response.status}${errorCode(text)}`);
    return { status: response.status, text };
  } catch (err) {
    count(ctx.tally, (err as Error).name === 'TimeoutError' ? 'no answer' : 'network error');
    return null;
  }
}

/** A GraphQL POST in JSON (or whatever `headers` and `body` say). */
export const postGraphQL = (ctx: AttackContext, payload: unknown, headers: Record<string, string> = {}) =>
  send(ctx, '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

/** The first error's code, from a JSON answer or from the first event of a stream. */
function errorCode(text: string): string {
  let code: unknown;
  try {
    code = (JSON.parse(text) as { errors?: Array<{ extensions?: { code?: unknown } }> }).errors?.[0]?.extensions?.code;
  } catch {
    code = /"code"\s*:\s*"([A-Z_]+)"/.exec(text.slice(0, 4096))?.[1];
  }
  return typeof code === 'string' ? ` ${code}` : '';
}

/** Runs `task(i)` for i < total with `concurrency` at a time, stopping at the deadline. */
export async function inParallel(ctx: AttackContext, total: number, concurrency: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  const lane = async () => {
    while (next < total && timeLeft(ctx) > 0) await task(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Socket {
  client: Client;
  /** Resolves true once acknowledged, false when closed (or the deadline passed) first. */
  connected: Promise<boolean>;
  /** How it closed ("close 4403", "HTTP 429 at upgrade"), once closed. */
  closed(): string | undefined;
}

/** A graphql-ws client on /graphql, connected eagerly, never retrying. */
export function openSocket(ctx: AttackContext, token?: string): Socket {
  let refusal: string | undefined;
  // A refused upgrade reaches graphql-ws as close code 1006: the HTTP status is kept from ws's error.
  class RecordingWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      this.on('error', (err) => (refusal = /Unexpected server response: (\d+)/.exec(err.message)?.[1]));
    }
  }
  let settle!: (ok: boolean) => void;
  const connected = new Promise<boolean>((resolve) => (settle = resolve));
  const timer = setTimeout(() => settle(false), timeLeft(ctx));
  let code: number | undefined;
  const client = createClient({
    url: `${ctx.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: RecordingWebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: {
      connected: () => settle(true),
      closed: (event) => {
        code = (event as { code?: number }).code;
        settle(false);
      },
    },
    onNonLazyError: () => {},
  });
  void connected.then(() => clearTimeout(timer));
  return { client, connected, closed: () => (refusal ? `HTTP ${refusal} at upgrade` : code === undefined ? undefined : `close ${code}`) };
}

/**
 * Subscribes (or runs a query) on a socket and tallies how it ended: "next", "error", "complete",
 * "close <code>" when the socket closed under it. Resolves with the outcome; stays pending while
 * a subscription is live.
 */
export function operate(ctx: AttackContext, socket: Socket, query: string): Promise<string> {
  ctx.tally.sent++;
  return new Promise((resolve) => {
    let done = false;
    const end = (outcome: string) => {
      if (done) return;
      done = true;
      count(ctx.tally, outcome);
      resolve(outcome);
    };
    socket.client.subscribe(
      { query },
      {
        next: (result) => end(result.errors?.length ? `next with ${errorName(result.errors[0])}` : 'next'),
        error: (err) => end(isCloseEvent(err) ? `close ${(err as { code: number }).code}` : `error ${errorName(Array.isArray(err) ? err[0] : err)}`),
        complete: () => end('complete'),
      },
    );
  });
}

const isCloseEvent = (err: unknown) => typeof (err as { code?: unknown })?.code === 'number';
const errorName = (error: unknown) => String((error as { extensions?: { code?: string } })?.extensions?.code ?? 'error');
