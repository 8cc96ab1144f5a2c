import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ENCRYPTION_KEY, startTestApp, type TestApp } from '../helpers/app.ts';
import { makeAdmin, type SignedIn } from '../helpers/admin.ts';
import { databaseAsText } from '../helpers/passwordless.ts';
import { eventually } from '../helpers/eventually.ts';
import { COMPLETE, CONFIRM_TOTP, DISABLE, ME, PASSWORD, START_TOTP, codeAt, codeOf, enrolledUser, nextStep, passwordLogin } from '../helpers/second-factor.ts';
import { CREATE } from '../helpers/webhook-receiver.ts';

// Issue 15: turning the factor off (by the user with a code, by an admin), what each change
// revokes, mails, audits and announces to webhooks; and the secret never readable at rest (no
// column of any table holds its base32) nor in the logs.

const RESET = `mutation($userId: ID!) { adminResetSecondFactor(userId: $userId) { user { id secondFactorEnabled recoveryCodesLeft } sessions { id } } }`;
let t: TestApp;
let admin: SignedIn;

beforeAll(async () => {
  t = await startTestApp();
  admin = await makeAdmin(t, 'admin-2fa@example.com');
  const hook = await t.gql(
    CREATE,
    { input: { url: 'http://127.0.0.1:9/hook', events: ['second_factor.enabled', 'second_factor.disabled'] } },
    { token: admin.token },
  );
  expect(hook.body.errors).toBeUndefined();
});
afterAll(async () => {
  await t?.close();
});

const liveSessions = async (userId: string) =>
  (await t.db.query<{ id: string }>(`SELECT id FROM "Session" WHERE "userId" = $1 AND "revokedAt" IS NULL`, [userId])).map((r) => r.id);
const revokeReasons = async (userId: string) =>
  (
    await t.db.query<{ reason: string }>(`SELECT DISTINCT "revokeReason"::text AS reason FROM "Session" WHERE "userId" = $1 AND "revokedAt" IS NOT NULL`, [
      userId,
    ])
  ).map((r) => r.reason);
const auditTypes = async (userId: string) =>
  (await t.db.query<{ type: string }>(`SELECT type FROM "AuditEvent" WHERE "userId" = $1 ORDER BY id`, [userId])).map((r) => r.type);
const webhookEvents = async (userId: string) =>
  (await t.db.query<{ event: string }>(`SELECT event FROM "WebhookDelivery" WHERE payload LIKE $1 ORDER BY id`, [`%${userId}%`])).map((r) => r.event);
const outbox = (email: string) => t.db.query<{ subject: string }>(`SELECT subject FROM "DevOutboxMail" WHERE "to" = $1 ORDER BY "createdAt"`, [email]);

describe('the secret at rest and in the logs', () => {
  it('is sealed in the database, pending and active; recovery codes are stored hashed', async () => {
    const email = 'rest-2fa@example.com';
    const { token } = await t.register(email, PASSWORD);
    const started = await t.gql(START_TOTP, { input: { password: PASSWORD } }, { token });
    const secret: string = started.body.data.startTotpEnrollment.secret;
    t.rememberSecret(secret);
    const scan = async (values: string[]) => {
      const text = await databaseAsText(t.db);
      for (const value of values) {
        expect(text.includes(value), 'a secret in the database').toBe(false);
        expect(text.toLowerCase().includes(value.toLowerCase()), 'a secret in the database').toBe(false);
      }
    };
    const [pending] = await t.db.query(`SELECT "totpPendingSecret" FROM "User" WHERE email = $1`, [email]);
    expect(pending!.totpPendingSecret).toMatch(/^v1\./); // sealed (encryption.ts)
    await scan([secret, Buffer.from(secret).toString('base64')]);

    const confirmed = await t.gql(CONFIRM_TOTP, { code: codeAt(secret, t.clock) }, { token });
    const codes: string[] = confirmed.body.data.confirmTotpEnrollment.codes;
    for (const code of codes) t.rememberSecret(code);
    const [active] = await t.db.query(`SELECT "totpSecret", "totpPendingSecret" FROM "User" WHERE email = $1`, [email]);
    expect(active).toMatchObject({ totpSecret: expect.stringMatching(/^v1\./), totpPendingSecret: null });
    await scan([secret, ...codes, ...codes.map((c) => c.replace('-', ''))]);

    // Sign in and complete, so the logs have seen every step; none of them holds the secret or a code.
    nextStep(t.clock);
    const pending2 = await passwordLogin(t, email);
    await t.gql(
      `mutation($code: String!) { completeSecondFactor(input: { code: $code }) { token } }`,
      { code: codeAt(secret, t.clock) },
      { token: pending2.token },
    );
    expect(t.logs.length).toBeGreaterThan(0);
    for (const value of [secret, ...codes]) expect(t.logs.some((line) => line.includes(value))).toBe(false);
    expect(t.leakedSecrets()).toEqual([]);
  });
});

describe('turning it off', () => {
  it('by the user, with a current code: factor and codes gone, other sessions revoked, mailed, audited, announced', async () => {
    const email = 'off-2fa@example.com';
    const { token, userId, secret } = await enrolledUser(t, email);
    nextStep(t.clock);
    const other = await passwordLogin(t, email);
    expect(other.pending).toBe(true);

    expect(codeOf(await t.gql(DISABLE, { code: '000000' }, { token }))).toBe('TOKEN_INVALID');
    expect(codeOf(await t.gql(DISABLE, { code: codeAt(secret, t.clock) }, { token: other.token }))).toBe('SECOND_FACTOR_REQUIRED');
    const off = await t.gql(DISABLE, { code: codeAt(secret, t.clock) }, { token });
    expect(off.body.data).toEqual({ disableSecondFactor: true });

    expect((await t.gql(ME, {}, { token })).body.data.me).toMatchObject({ secondFactorEnabled: false, recoveryCodesLeft: 0 });
    expect(await liveSessions(userId)).toHaveLength(1);
    expect(await revokeReasons(userId)).toEqual(['SECOND_FACTOR_CHANGED']);
    expect((await passwordLogin(t, email)).pending).toBe(false);
    expect(codeOf(await t.gql(DISABLE, { code: codeAt(secret, t.clock) }, { token }))).toBe('CONFLICT');

    expect(await auditTypes(userId)).toEqual(
      expect.arrayContaining(['second_factor.enrollment_started', 'second_factor.enabled', 'second_factor.disabled', 'session.revoked']),
    );
    expect(await webhookEvents(userId)).toEqual(['second_factor.enabled', 'second_factor.disabled']);
    const notices = async () => (await outbox(email)).map((m) => m.subject).filter((s) => s.startsWith('Two-step'));
    const mails = await eventually(async () => ((await notices()).length >= 2 ? notices() : undefined), 'two notices', 15_000);
    expect(mails.sort()).toEqual(['Two-step sign-in was turned off', 'Two-step sign-in was turned on']);
  });

  it('by an admin: factor gone, every session revoked (SECOND_FACTOR_CHANGED), audited with the admin as actor', async () => {
    const email = 'reset-2fa@example.com';
    const { token, userId } = await enrolledUser(t, email);
    await passwordLogin(t, email);
    expect(codeOf(await t.gql(RESET, { userId }, { token }))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql(RESET, { userId: 'not-an-id' }, { token: admin.token }))).toBe('BAD_USER_INPUT');

    const before = await t.gql(
      `query($id: ID!) { adminUser(id: $id) { user { recoveryCodesLeft secondFactorEnabled } } }`,
      { id: userId },
      { token: admin.token },
    );
    expect(before.body.data.adminUser.user).toEqual({ recoveryCodesLeft: 10, secondFactorEnabled: true });
    const reset = await t.gql(RESET, { userId }, { token: admin.token });
    expect(reset.body.data.adminResetSecondFactor).toEqual({ user: { id: userId, secondFactorEnabled: false, recoveryCodesLeft: 0 }, sessions: [] });
    expect(codeOf(await t.gql(ME, {}, { token }))).toBe('UNAUTHENTICATED');
    expect(await revokeReasons(userId)).toEqual(['SECOND_FACTOR_CHANGED']);
    const [audited] = await t.db.query(`SELECT "actorId" FROM "AuditEvent" WHERE "userId" = $1 AND type = 'admin.second_factor.reset'`, [userId]);
    expect(audited).toEqual({ actorId: admin.userId });
    expect(await webhookEvents(userId)).toEqual(['second_factor.enabled', 'second_factor.disabled']);
    expect((await passwordLogin(t, email)).pending).toBe(false);
  });

  it('counts outcomes on /metrics', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/portcullis_second_factor_total\{action="confirm",result="success"\} [1-9]/);
    expect(text).toMatch(/portcullis_second_factor_total\{action="disable",result="failure"\} [1-9]/);
    expect(text).toMatch(/portcullis_second_factor_total\{action="admin_reset",result="success"\} [1-9]/);
  });
});

describe('key rotation', () => {
  it('a secret sealed with a key now in ENCRYPTION_KEYS_OLD still works, and is sealed again with the new key', async () => {
    const email = 'rotate-2fa@example.com';
    const { secret } = await enrolledUser(t, email);
    const sealedBefore = (await t.db.query(`SELECT "totpSecret" FROM "User" WHERE email = $1`, [email]))[0]!.totpSecret as string;
    const newKey = Buffer.alloc(32, 9).toString('base64');
    const rotated = await startTestApp({ db: t.db, clock: t.clock, env: { ENCRYPTION_KEY: newKey, ENCRYPTION_KEYS_OLD: TEST_ENCRYPTION_KEY } });
    try {
      rotated.rememberSecret(secret);
      nextStep(t.clock);
      const pending = await passwordLogin(rotated, email);
      const done = await rotated.gql(COMPLETE, { code: codeAt(secret, t.clock) }, { token: pending.token });
      expect(done.body.data.completeSecondFactor.secondFactorRequired).toBe(false);
      const sealedAfter = (await t.db.query(`SELECT "totpSecret" FROM "User" WHERE email = $1`, [email]))[0]!.totpSecret as string;
      expect(sealedAfter).not.toBe(sealedBefore);
      expect(sealedAfter.split('.')[1]).not.toBe(sealedBefore.split('.')[1]); // another key id
    } finally {
      await rotated.close();
    }
  });
});
