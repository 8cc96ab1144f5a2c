import { expect, vi } from 'vitest';
import type { Config } from '../../src/config/env.ts';
import { hashToken } from '../../src/platform/crypto.ts';
import { fastHashing, relaxedRateLimits, startTestApp, type GqlResult, type TestApp } from './app.ts';
import { eventually } from './eventually.ts';
import { mailJobs } from './passwordless.ts';
import { linkIn, startSendgridFake, type ReceivedMail, type SendgridFake } from './sendgrid-fake.ts';

// Shared by the recovery and verification tests (test/integration/recovery.test.ts and
// test/security/recovery.test.ts): the operations, fast mail jobs, and reading the queue and rows.

export const REQUEST_RESET = `mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) }`;
export const RESET = `mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }`;
export const REQUEST_VERIFICATION = `mutation { requestEmailVerification }`;
export const VERIFY = `mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { id email emailVerified } }`;
export const CHANGE = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) }`;
export const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token session { id } } }`;
export const ME = `{ me { id email emailVerified hasPassword } }`;

/** Mail jobs picked up at once and retried quickly; fast argon2. */
export const fastMail = (c: Config): Config => ({
  ...fastHashing(c),
  queue: { ...c.queue, retryDelaySeconds: 1, retryBackoff: false, pollingIntervalSeconds: 0.5 },
});

/** Other features' limits relaxed as usual, and no limit at all on the recovery and verification fields. */
export const unlimitedRecovery = [
  relaxedRateLimits,
  ...['requestPasswordReset', 'resetPassword', 'requestEmailVerification', 'verifyEmail', 'requestMagicLink', 'loginWithMagicLink'].map(
    (field) => `${field}=off`,
  ),
].join(';');

export function expectCode(r: GqlResult, code: string) {
  expect(r.body.errors?.[0]?.extensions.code, JSON.stringify(r.body)).toBe(code);
  expect(r.body.data ?? null).toBeNull();
}

/**
 * The token of the link to `frontendUrl + path` in `mail`: the link must be exactly that URL with a
 * single `token` parameter. The token is remembered, so a log line holding it fails the test.
 */
export function tokenIn(t: TestApp, mail: ReceivedMail, path: string): string {
  const url = linkIn(mail.text, path);
  expect(`${url.origin}${url.pathname}`).toBe(`${t.config.frontendUrl}${path}`);
  expect([...url.searchParams.keys()]).toEqual(['token']);
  const token = url.searchParams.get('token')!;
  // 32 random bytes, base64url.
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(mail.html).toContain(url.toString());
  t.rememberSecret(token);
  return token;
}

/** Waits until every send-mail job of `email` has been worked off (completed: sent or nothing to send). */
export async function jobsDone(t: TestApp, email: string, ms = 10_000): Promise<void> {
  await eventually(async () => (await mailJobs(t.db, email)).every((j) => j.state === 'completed'), `the mail jobs of ${email} to be done`, ms);
}

export async function userRow(t: TestApp, email: string) {
  const [row] = await t.db.query(
    `SELECT id, "passwordHash", "emailVerified", ("lockedUntil" AT TIME ZONE 'UTC') AS "lockedUntil", "lockReason"
       FROM "User" WHERE email = $1`,
    [email],
  );
  return row as { id: string; passwordHash: string | null; emailVerified: boolean; lockedUntil: Date | null; lockReason: string | null } | undefined;
}

export const sessionsOf = (t: TestApp, userId: string) =>
  t.db.query<{ id: string; revokedAt: Date | null; revokeReason: string | null; createdAt: Date; method: string }>(
    `SELECT id, "revokedAt", "revokeReason", "createdAt", method FROM "Session" WHERE "userId" = $1 ORDER BY "createdAt", id`,
    [userId],
  );

/** The stored row of a one-time token, found by the hash of its raw value. */
export async function tokenRow(t: TestApp, token: string) {
  const [row] = await t.db.query(
    `SELECT purpose, email, "userId", ("expiresAt" AT TIME ZONE 'UTC') AS "expiresAt", ("consumedAt" AT TIME ZONE 'UTC') AS "consumedAt"
       FROM "OneTimeToken" WHERE "tokenHash" = $1`,
    [hashToken(token)],
  );
  return row as { purpose: string; email: string; userId: string | null; expiresAt: Date; consumedAt: Date | null; createdAt: Date } | undefined;
}

export const tokenRowsOf = (t: TestApp, email: string, purpose = 'PASSWORD_RESET') =>
  t.db.query<{ consumedAt: Date | null }>(`SELECT "consumedAt" FROM "OneTimeToken" WHERE email = $1 AND purpose = $2::"TokenPurpose"`, [email, purpose]);

/** A token that no longer authenticates: 401 UNAUTHENTICATED over HTTP. */
export async function expectDead(t: TestApp, token: string) {
  const r = await t.gql(ME, {}, { token });
  expect(r.status).toBe(401);
  expectCode(r, 'UNAUTHENTICATED');
}

/** Connections of `t`'s database waiting for a lock (a row lock, or an advisory lock). */
export const lockWaits = async (t: TestApp) =>
  (await t.db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [t.db.name]))[0].n as number;

/** A promise and the function that resolves it. */
export function gate(): { open: () => void; passed: Promise<void> } {
  let open!: () => void;
  const passed = new Promise<void>((r) => (open = r));
  return { open, passed };
}

/**
 * Holds the next call of `target[method]` once the original has run (so inside the caller's
 * transaction, when it runs in one): `reached` resolves with its result, and the call returns after
 * `release()`.
 * Later calls go straight through.
 */
export function holdAfter<T extends object, K extends keyof T>(target: T, method: K) {
  const original = target[method] as (...args: any[]) => Promise<unknown>;
  const release = gate();
  let reached!: (result: unknown) => void;
  const result = new Promise<unknown>((r) => (reached = r));
  const spy = vi.spyOn(target, method as never).mockImplementationOnce((async (...args: any[]) => {
    const value = await original(...args);
    reached(value);
    await release.passed;
    return value;
  }) as never);
  /** `reached` resolves with what the held call returned. */
  return { reached: result, release: release.open, restore: () => spy.mockRestore() };
}

/** Mail limits off too: the tests of one-time secrets ask for many links and codes per address. */
export const unlimitedMailedSecrets = `${unlimitedRecovery};requestEmailCode=off;loginWithEmailCode=off`;

/**
 * An app that mails through a local SendGrid stand-in, with the recovery and passwordless limits
 * off and fast mail jobs; `env` adds to (or replaces) its environment. Closes both at the end.
 */
export async function startMailingApp(env: Record<string, string> = {}): Promise<{ t: TestApp; mail: SendgridFake; close(): Promise<void> }> {
  const mail = await startSendgridFake();
  const t = await startTestApp({ env: { ...mail.env, RATE_LIMITS: unlimitedMailedSecrets, ...env }, configure: fastMail });
  return {
    t,
    mail,
    async close() {
      try {
        await t.close();
      } finally {
        await mail.close();
      }
    },
  };
}
