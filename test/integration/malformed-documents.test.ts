import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// Issue 20: the README's error table gave BAD_USER_INPUT for any malformed document. Each row of
// its table of malformed documents is checked here against what the server really answers.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const tooDeep = `{ ${Array.from({ length: 11 }, (_, i) => `f${i} {`).join(' ')} x ${'}'.repeat(11)} }`;
const cases: Array<{ code: string; body: Record<string, unknown>; alwaysStatus?: number }> = [
  { code: 'GRAPHQL_PARSE_FAILED', body: { query: '{ me { id ' } },
  { code: 'GRAPHQL_VALIDATION_FAILED', body: { query: '{ nope }' } },
  { code: 'GRAPHQL_VALIDATION_FAILED', body: { query: 'query($x: Int!) { me { id } }' } },
  { code: 'BAD_USER_INPUT', body: { query: tooDeep } },
  { code: 'BAD_REQUEST', body: {} },
  { code: 'OPERATION_RESOLUTION_FAILURE', body: { query: '{ me { id } }', operationName: 'Nope' }, alwaysStatus: 400 },
];

async function post(body: Record<string, unknown>, accept: string) {
  const res = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { errors: Array<{ extensions: { code: string; http?: { status: number } } }> } };
}

it.each(cases)('answers $code as the README says, for both kinds of client', async ({ code, body, alwaysStatus }) => {
  const modern = await post(body, 'application/graphql-response+json');
  expect(modern.body.errors[0]!.extensions.code).toBe(code);
  expect(modern.status).toBe(400);
  const legacy = await post(body, 'application/json');
  expect(legacy.body.errors[0]!.extensions).toMatchObject({ code, http: { status: 400 } });
  expect(legacy.status).toBe(alwaysStatus ?? 200);
});

it('lists exactly these codes in the README table of malformed documents', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.slice(readme.indexOf('A document that cannot run'), readme.indexOf('\n\n', readme.indexOf('| code | when | example |')));
  const codes = [...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  expect(codes.sort()).toEqual([...new Set(cases.map((c) => c.code))].sort());
  expect(readme).not.toMatch(/BAD_USER_INPUT[^\n]*malformed GraphQL/);
});
