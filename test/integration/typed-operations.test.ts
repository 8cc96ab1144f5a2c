import { readFileSync } from 'node:fs';
import { generate } from '@graphql-codegen/cli';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ChangePasswordDocument,
  IssueAccessTokenDocument,
  LoginDocument,
  LogoutDocument,
  MeDocument,
  MySessionsDocument,
  RegisterDocument,
  RevokeOtherSessionsDocument,
  UpdateProfileDocument,
} from '../../operations/generated/graphql.ts';
import config from '../../codegen.ts';
import { codeOf, startTestApp, type TestApp } from '../helpers/app.ts';

// operations/ is what frontends copy, and operations/generated/ the typed documents they import:
// both must be current, and a client's day must work with them as written.

const root = new URL('../../', import.meta.url);

it('operations/generated/ is what `npm run codegen` makes of operations/ and schema.graphql now', { timeout: 60_000 }, async () => {
  const outputs: Array<{ filename: string; content: string }> = await generate({ ...config, cwd: root.pathname, silent: true }, false);
  expect(outputs.length).toBeGreaterThan(0);
  for (const { filename, content } of outputs) {
    const committed = readFileSync(new URL(filename.replace(root.pathname, ''), root), 'utf8');
    expect(committed, `${filename} is stale: run npm run codegen`).toBe(content);
  }
});

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

it("a client's day with the typed documents, as written: register, profile, sessions, password, access token, sign out", async () => {
  const email = 'typed-ops@example.com';
  const registered = await t.op(RegisterDocument, { input: { email, password: 'first password here' } });
  const first = registered.body.data!.register;
  expect(first.user).toMatchObject({ email, emailVerified: false, hasPassword: true, role: 'USER' });
  const auth = { token: first.token };

  expect((await t.op(MeDocument, {}, auth)).body.data!.me).toMatchObject({ id: first.user.id, email });
  expect((await t.op(UpdateProfileDocument, { input: { name: 'Ada' } }, auth)).body.data!.updateProfile).toEqual({ id: first.user.id, name: 'Ada' });

  const second = (await t.op(LoginDocument, { input: { email, password: 'first password here' } })).body.data!.login;
  expect(second.secondFactorRequired).toBe(false);
  const sessions = (await t.op(MySessionsDocument, {}, auth)).body.data!.mySessions;
  expect(sessions.map((s) => s.current).sort()).toEqual([false, true]);
  expect((await t.op(RevokeOtherSessionsDocument, {}, auth)).body.data!.revokeOtherSessions).toBe(1);
  expect(codeOf(await t.op(MeDocument, {}, { token: second.token }))).toBe('UNAUTHENTICATED');

  const changed = await t.op(ChangePasswordDocument, { input: { currentPassword: 'first password here', newPassword: 'second password here' } }, auth);
  expect(changed.body.errors).toBeUndefined();
  const issued = (await t.op(IssueAccessTokenDocument, { audience: null }, auth)).body.data!.issueAccessToken;
  expect(issued.token.split('.')).toHaveLength(3);

  expect((await t.op(LogoutDocument, {}, auth)).body.data!.logout).toBe(true);
  expect(codeOf(await t.op(MeDocument, {}, auth))).toBe('UNAUTHENTICATED');
  expect(codeOf(await t.op(LoginDocument, { input: { email, password: 'first password here' } }))).toBe('UNAUTHENTICATED');
  expect((await t.op(LoginDocument, { input: { email, password: 'second password here' } })).body.data!.login.user.email).toBe(email);
});
