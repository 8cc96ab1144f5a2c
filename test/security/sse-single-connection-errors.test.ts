import { createClient } from 'graphql-sse';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { eventually } from '../helpers/eventually.ts';
import { subscribeSse } from '../helpers/sse.ts';

// Operations sent on a single-connection SSE stream (POST with X-GraphQL-Event-Stream-Token) are
// answered like HTTP ones: a document refused at validation, a variable that does not coerce, a
// text with a control character get API.md's error envelope (code, requestId, http.status) on
// the POST, nothing runs, no message quotes a variable; a streamed result's errors go through the
// same error completer as HTTP and WebSocket. graphql-sse used to answer all of these
// 400 "Unable to detect operation AST", with no code or requestId.

const SENTINEL = 'Sentinel-Secret-4Hq8';
const PASSWORD = 'correct horse battery';
const TOKEN_HEADER = 'x-graphql-event-stream-token';
const REGISTER = 'mutation($input: RegisterInput!) { register(input: $input) { token } }';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type ErrorJson = { message: string; extensions: Record<string, any> };
interface Answer {
  status: number;
  text: string;
  errors: ErrorJson[];
}

let t: TestApp;
let signedIn: string;
/** One stream held open for the whole file; `streamed` is everything it has carried. */
let stream: { token: string; control: AbortController };
let streamed = '';
let operationIds = 0;

beforeAll(async () => {
  t = await startTestApp();
  t.rememberSecret(SENTINEL);
  signedIn = (await t.register('signed-in@example.com')).token;
  const token = await (await fetch(`${t.url}/graphql`, { method: 'PUT' })).text();
  const control = new AbortController();
  const opened = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/event-stream', [TOKEN_HEADER]: token }, signal: control.signal });
  expect(opened.status).toBe(200);
  void (async () => {
    for await (const chunk of opened.body!) streamed += Buffer.from(chunk).toString();
  })().catch(() => {});
  stream = { token, control };
});
afterEach(() => vi.restoreAllMocks());
afterAll(async () => {
  stream?.control.abort();
  t.app.server.closeAllConnections();
  await t.close();
});

const parse = (status: number, text: string): Answer => ({ status, text, errors: status === 202 ? [] : JSON.parse(text).errors });

/** The protocol by hand: a POST carrying the open stream's token runs the operation on it. */
async function onStream(query: string, variables?: Record<string, unknown>, bearer?: string): Promise<Answer & { id: string }> {
  const id = `op-${++operationIds}`;
  const r = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: stream.token, ...(bearer && { authorization: `Bearer ${bearer}` }) },
    body: JSON.stringify({ query, variables, extensions: { operationId: id } }),
  });
  return { ...parse(r.status, await r.text()), id };
}

/**
 * The real graphql-sse client in single-connection mode. The answer to its operation's POST is
 * read before the client sees it (the client aborts the request once it has failed).
 */
async function withClient(query: string, variables?: Record<string, unknown>, bearer?: string) {
  const answers: Answer[] = [];
  const client = createClient({
    url: `${t.url}/graphql`,
    singleConnection: true,
    retryAttempts: 0,
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    fetchFn: async (input: RequestInfo, init?: RequestInit) => {
      const response = await fetch(input, init);
      if (init?.method === 'POST') answers.push(parse(response.status, await response.clone().text()));
      return response;
    },
  });
  const results: Array<{ data?: unknown; errors?: ErrorJson[] }> = [];
  const failure = await new Promise<unknown>((resolve) =>
    client.subscribe({ query, variables }, { next: (r) => void results.push(r as never), error: resolve, complete: () => resolve(null) }),
  );
  client.dispose();
  expect(answers).toHaveLength(1);
  return { answer: answers[0]!, failure, results };
}

const userRows = async (email?: string) =>
  (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM "User" WHERE $1::text IS NULL OR email = $1', [email ?? null]))[0]!.n;

function watchServices() {
  const { hasher, sessions, registration } = t.app.services;
  return { register: vi.spyOn(registration, 'register'), hash: vi.spyOn(hasher, 'hash'), authenticate: vi.spyOn(sessions, 'authenticate') };
}

/** The "request error" lines the error completer wrote for `requestId`. */
const completerLines = (requestId: string) =>
  t.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request error' && line.requestId === requestId);

/** API.md's envelope on every error of a refused operation, each logged once under its requestId. */
function expectEnvelope(answer: Answer, code: string, message: RegExp) {
  expect(answer.status, answer.text).toBe(400);
  expect(answer.errors.length).toBeGreaterThanOrEqual(1);
  for (const error of answer.errors) {
    expect(error.message).toMatch(message);
    expect(error.extensions).toEqual({ code, requestId: expect.stringMatching(UUID), http: { status: 400 } });
    expect(completerLines(error.extensions.requestId)).toEqual([expect.objectContaining({ errorCode: code })]);
  }
}

/** The payloads of the `next` events the open stream has carried for operation `id`. */
const streamedResults = (id: string) =>
  [...streamed.matchAll(/^event: next\ndata: (.*)$/gm)]
    .map((match) => JSON.parse(match[1]!) as { id: string; payload: { data?: unknown; errors?: ErrorJson[] } })
    .filter((event) => event.id === id)
    .map((event) => event.payload);
/** Nothing was streamed for the operation `id` (it never ran). */
const expectNothingStreamed = (id: string) => expect(streamedResults(id)).toEqual([]);

it('a document refused at validation -> 400 GRAPHQL_VALIDATION_FAILED with requestId on the POST; nothing runs', async () => {
  const spies = watchServices();
  const query = `mutation { register(input: { email: "refused@example.com", password: "${PASSWORD}" }) { token nope } }`;
  const raw = await onStream(query);
  expectEnvelope(raw, 'GRAPHQL_VALIDATION_FAILED', /^Cannot query field "nope" on type "AuthPayload"\./);
  const { answer, failure, results } = await withClient(query, undefined, signedIn);
  expectEnvelope(answer, 'GRAPHQL_VALIDATION_FAILED', /^Cannot query field "nope"/);
  expect(failure).toMatchObject({ name: 'NetworkError', response: { status: 400 } });
  expect(results).toEqual([]);

  await new Promise((r) => setTimeout(r, 50));
  expectNothingStreamed(raw.id);
  expect(await userRows('refused@example.com')).toBe(0);
  for (const spy of Object.values(spies)) expect(spy).not.toHaveBeenCalled();
});

it('a variable that does not coerce -> 400 BAD_USER_INPUT on the POST; the sentinel secret in it reaches no response and no log line', async () => {
  const spies = watchServices();
  const users = await userRows();
  const wrong: Array<Record<string, unknown>> = [
    { input: SENTINEL },
    { input: { email: 'c@example.com', password: SENTINEL, extra: SENTINEL } },
    { input: { email: { nested: SENTINEL }, password: SENTINEL } },
    { input: [{ email: 'c@example.com', password: SENTINEL }] },
  ];
  for (const variables of wrong) {
    const raw = await onStream(REGISTER, variables);
    expect(raw.text).not.toContain(SENTINEL);
    expectEnvelope(raw, 'BAD_USER_INPUT', /^Variable "\$input" got invalid value/);
    expectNothingStreamed(raw.id);
    const { answer, failure } = await withClient(REGISTER, variables);
    expect(answer.text).not.toContain(SENTINEL);
    expectEnvelope(answer, 'BAD_USER_INPUT', /^Variable "\$input" got invalid value/);
    expect(failure).toMatchObject({ response: { status: 400 } });
  }
  await new Promise((r) => setTimeout(r, 50));
  expect(streamed).not.toContain(SENTINEL);
  for (const line of t.logs) expect(line).not.toContain(SENTINEL);
  expect(await userRows()).toBe(users);
  for (const spy of Object.values(spies)) expect(spy).not.toHaveBeenCalled();
});

it('a control character in a register name, as a variable or in the document -> 400 BAD_USER_INPUT; no hash, no user row', async () => {
  const spies = watchServices();
  const email = 'control@example.com';
  const byVariable = await onStream(REGISTER, { input: { email, password: PASSWORD, name: 'Eve\u0000' } });
  expectEnvelope(byVariable, 'BAD_USER_INPUT', /^Text must not hold a control character \(\$input\.name\)$/);
  const literal = `mutation { register(input: { email: "${email}", password: "${PASSWORD}", name: "Eve\\u001b" }) { token } }`;
  expectEnvelope(await onStream(literal), 'BAD_USER_INPUT', /^Text must not hold a control character \(RegisterInput\.name\)$/);
  const { answer, failure } = await withClient(REGISTER, { input: { email, password: PASSWORD, name: 'Eve\u0085' } });
  expectEnvelope(answer, 'BAD_USER_INPUT', /^Text must not hold a control character \(\$input\.name\)$/);
  expect(failure).toMatchObject({ response: { status: 400 } });

  await new Promise((r) => setTimeout(r, 50));
  expectNothingStreamed(byVariable.id);
  expect(await userRows(email)).toBe(0);
  for (const spy of Object.values(spies)) expect(spy).not.toHaveBeenCalled();
});

it('an exponential fragment document (F30 spreads F29 twice, ... 2^30 fields) -> 400 BAD_USER_INPUT at once; nothing runs', async () => {
  let fragments = 'fragment F0 on Query { me { id } }';
  for (let k = 1; k <= 30; k++) fragments += ` fragment F${k} on Query { ...F${k - 1} ...F${k - 1} }`;
  const query = `{ ...F30 } ${fragments}`;
  const spies = watchServices();
  const users = await userRows();

  const started = performance.now();
  const raw = await onStream(query, undefined, signedIn);
  const ms = performance.now() - started;
  console.info(`exponential fragments on a single-connection stream: refused in ${ms.toFixed(1)} ms`);
  expect(ms).toBeLessThan(1000);
  expectEnvelope(raw, 'BAD_USER_INPUT', /^Query is too expensive/);

  // The real client, through the shared helper (which records data only): the stream fails, nothing arrives.
  const client = subscribeSse(t.url, query, { token: signedIn, singleConnection: true });
  await expect(client.ended).rejects.toMatchObject({ name: 'NetworkError', response: { status: 400 } });
  expect(client.events).toEqual([]);
  client.dispose();

  await new Promise((r) => setTimeout(r, 50));
  expectNothingStreamed(raw.id);
  expect(await userRows()).toBe(users);
  // The credentials are resolved only for an operation that runs.
  for (const spy of Object.values(spies)) expect(spy).not.toHaveBeenCalled();
});

it('a streamed result with errors goes through the error completer: envelope in the `next` event, logged once under its requestId', async () => {
  const { answer, failure, results } = await withClient('{ mySessions { id } }');
  expect(answer.status).toBe(202);
  expect(failure).toBeNull();
  expect(results).toHaveLength(1);
  expect(results[0]!.data).toBeNull();
  const [error] = results[0]!.errors!;
  expect(error!.extensions).toMatchObject({ code: 'UNAUTHENTICATED', requestId: expect.stringMatching(UUID), http: { status: 401 } });
  expect(completerLines(error!.extensions.requestId)).toEqual([expect.objectContaining({ errorCode: 'UNAUTHENTICATED' })]);

  // Over the stream held open by hand, too.
  const raw = await onStream('{ mySessions { id } }');
  expect(raw.status).toBe(202);
  await eventually(() => streamedResults(raw.id).length > 0, 'the result on the stream');
  const [payload] = streamedResults(raw.id);
  expect(payload!.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED', requestId: expect.stringMatching(UUID) });
  expect(completerLines(payload!.errors![0]!.extensions.requestId)).toHaveLength(1);
});
