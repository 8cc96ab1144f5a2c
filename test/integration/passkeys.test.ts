import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { auditRows, makeAdmin } from '../helpers/admin.ts';
import { mailJobs } from '../helpers/passwordless.ts';
import {
  DELETE_PASSKEY,
  FINISH_REGISTRATION,
  MY_PASSKEYS,
  ORIGIN,
  RP_ID,
  passkeyEnv,
  passkeyLogin,
  registerPasskey,
  signInState,
  startRegistration,
  startSignIn,
} from '../helpers/passkeys.ts';
import { codeOf, enrolledUser, passwordLogin } from '../helpers/second-factor.ts';
import { eventually } from '../helpers/eventually.ts';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.ts';

// Passkeys (issue 16): registration by a signed-in user, sign-in with and without an email, the
// passkey list, deletion by the user and by an admin, the per-account limit. The refusals of
// checklist item 60 (replays, expiry, origins, counters) are in test/security/passkeys.test.ts.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ env: passkeyEnv });
});
afterAll(async () => {
  await t.close();
});

describe('registration', () => {
  it('offers creation options (resident key preferred, user verification required) and keeps the passkey', async () => {
    const { token, userId } = await t.register('reg@example.com');
    const { options } = await startRegistration(t, token);
    const parsed = JSON.parse(options);
    expect(parsed.rp).toEqual({ name: 'Portcullis', id: RP_ID });
    expect(parsed.authenticatorSelection).toMatchObject({ residentKey: 'preferred', userVerification: 'required' });
    expect(parsed.user.name).toBe('reg@example.com');
    expect(Buffer.from(parsed.user.id, 'base64url').toString('hex')).toBe(userId.replace(/-/g, ''));
    expect(parsed.excludeCredentials).toEqual([]);

    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const id = await registerPasskey(t, token, authenticator, '  Work laptop ');
    const [row] = await t.db.query(`SELECT "userId", "credentialId", counter::text AS counter, transports, name FROM "Passkey" WHERE id = $1`, [id]);
    expect(row).toEqual({ userId, credentialId: authenticator.credentials[0]!.idText, counter: '0', transports: 'internal', name: 'Work laptop' });
    const listed = await t.gql(MY_PASSKEYS, undefined, { token });
    expect(listed.body.data.myPasskeys).toEqual([expect.objectContaining({ id, name: 'Work laptop', lastUsedAt: null })]);

    // The next registration excludes the user's own passkeys; its challenge row is gone once used.
    const again = JSON.parse((await startRegistration(t, token)).options);
    expect(again.excludeCredentials).toEqual([{ id: authenticator.credentials[0]!.idText, type: 'public-key', transports: ['internal'] }]);
    expect((await auditRows(t, `type = 'passkey.registered' AND "userId" = $1`, [userId]))[0]!.data).toEqual({ passkeyId: id, name: 'Work laptop' });
    const jobs = await eventually(
      async () => (await mailJobs(t.db, 'reg@example.com')).filter((j) => j.template === 'passkey-added'),
      'the passkey-added mail job',
      15_000,
    );
    expect(jobs).toHaveLength(1);
    const mail = await eventually(
      async () => (await t.db.query(`SELECT subject FROM "DevOutboxMail" WHERE "to" = $1 AND subject LIKE '%passkey%'`, ['reg@example.com']))[0],
      'the passkey notice in the outbox',
      15_000,
    );
    expect(mail).toEqual({ subject: 'A passkey was added to your account' });
  });

  it("refuses a response to another account's challenge, another origin, or without user verification; nothing is kept", async () => {
    const a = await t.register('reg-a@example.com');
    const b = await t.register('reg-b@example.com');
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const ofA = await startRegistration(t, a.token);
    const stolen = await t.gql(
      FINISH_REGISTRATION,
      { input: { challengeId: ofA.challengeId, response: authenticator.register(ofA.options).response } },
      { token: b.token },
    );
    expect(codeOf(stolen)).toBe('TOKEN_INVALID');

    for (const bend of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { unverified: true }]) {
      const ceremony = await startRegistration(t, a.token);
      const response = authenticator.register(ceremony.options, bend).response;
      const r = await t.gql(FINISH_REGISTRATION, { input: { challengeId: ceremony.challengeId, response } }, { token: a.token });
      expect(codeOf(r), JSON.stringify(bend)).toBe('TOKEN_INVALID');
    }
    const garbled = await startRegistration(t, a.token);
    expect(codeOf(await t.gql(FINISH_REGISTRATION, { input: { challengeId: garbled.challengeId, response: '{not json' } }, { token: a.token }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(await t.db.query(`SELECT 1 FROM "Passkey" WHERE "userId" IN ($1, $2)`, [a.userId, b.userId])).toEqual([]);
    // A's challenge was not spent by B's attempt: A can still finish with it.
    const r = await t.gql(
      FINISH_REGISTRATION,
      { input: { challengeId: ofA.challengeId, response: authenticator.register(ofA.options).response } },
      { token: a.token },
    );
    expect(r.body.errors).toBeUndefined();
  });

  it('needs a settled session: anonymous callers and pending (password, then TOTP) sessions cannot register', async () => {
    expect(codeOf(await t.gql(`mutation { startPasskeyRegistration { challengeId } }`))).toBe('UNAUTHENTICATED');
    await enrolledUser(t, 'pending@example.com');
    const pending = await passwordLogin(t, 'pending@example.com');
    expect(pending.pending).toBe(true);
    expect(codeOf(await t.gql(`mutation { startPasskeyRegistration { challengeId } }`, undefined, { token: pending.token }))).toBe('SECOND_FACTOR_REQUIRED');
    expect(await t.db.query(`SELECT 1 FROM "PasskeyChallenge" WHERE "userId" = (SELECT id FROM "User" WHERE email = 'pending@example.com')`)).toEqual([]);
  });

  it('keeps at most 20 passkeys per account, also when two registrations finish at once', async () => {
    const { token, userId } = await t.register('many@example.com');
    await t.db.query(
      `INSERT INTO "Passkey" (id, "userId", "credentialId", "publicKey", counter, transports, "deviceType", "backedUp", name, "createdAt")
       SELECT gen_random_uuid(), $1, 'filler-' || n, '\\x00', 0, '', 'singleDevice', false, 'Filler ' || n, now() FROM generate_series(1, 18) n`,
      [userId],
    );
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const ceremonies = await Promise.all([1, 2, 3].map(() => startRegistration(t, token)));
    const results = await Promise.all(
      ceremonies.map((c) =>
        t.gql(FINISH_REGISTRATION, { input: { challengeId: c.challengeId, response: authenticator.register(c.options).response } }, { token }),
      ),
    );
    expect(results.map(codeOf).sort()).toEqual(['CONFLICT', undefined, undefined].sort());
    expect(await t.db.query(`SELECT 1 FROM "Passkey" WHERE "userId" = $1`, [userId])).toHaveLength(20);
    expect(codeOf(await t.gql(`mutation { startPasskeyRegistration { challengeId } }`, undefined, { token }))).toBe('CONFLICT');
  });
});

describe('sign-in', () => {
  it('signs in without an email (discoverable) and with one; the session counts both factors; the counter is kept', async () => {
    const { token, userId } = await t.register('signin@example.com');
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const passkeyId = await registerPasskey(t, token, authenticator);

    const anonymous = await startSignIn(t);
    expect(JSON.parse(anonymous.options)).toMatchObject({ rpId: RP_ID, userVerification: 'required' });
    for (const email of [undefined, 'SignIn@Example.com']) {
      const r = await passkeyLogin(t, authenticator, { email });
      expect(r.body.errors).toBeUndefined();
      const { token: newToken, user, session } = r.body.data.loginWithPasskey;
      expect(user).toEqual({ id: userId, email: 'signin@example.com' });
      expect(session.method).toBe('PASSKEY');
      const [row] = await t.db.query(`SELECT "secondFactor", "secondFactorPending" FROM "Session" WHERE id = $1`, [session.id]);
      expect(row).toEqual({ secondFactor: 'PASSKEY', secondFactorPending: false });
      expect((await t.gql(`{ me { id } }`, undefined, { token: newToken })).body.data.me.id).toBe(userId);
    }
    const [stored] = await t.db.query(`SELECT counter::text AS counter, "lastUsedAt" FROM "Passkey" WHERE id = $1`, [passkeyId]);
    expect(stored).toEqual({ counter: '2', lastUsedAt: t.clock.now() });
    const succeeded = await auditRows(t, `type = 'login.succeeded' AND "userId" = $1 AND data LIKE '%PASSKEY%'`, [userId]);
    expect(succeeded).toHaveLength(2);
  });

  it('answers an unknown email exactly like a known one, with a real challenge that signs nobody in', async () => {
    const { token } = await t.register('known@example.com');
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await registerPasskey(t, token, authenticator);
    const known = await startSignIn(t, 'known@example.com');
    const unknown = await startSignIn(t, 'nobody@example.com');
    const shape = (options: string) => Object.keys(JSON.parse(options)).sort();
    expect(shape(unknown.options)).toEqual(shape(known.options));
    expect(JSON.parse(known.options).allowCredentials ?? []).toEqual([]);
    expect(await t.db.query(`SELECT 1 FROM "PasskeyChallenge" WHERE id = $1`, [unknown.challengeId])).toHaveLength(1);
    const before = await signInState(t);
    const r = await passkeyLogin(t, authenticator, { email: 'nobody@example.com' });
    expect(codeOf(r)).toBe('TOKEN_INVALID');
    expect(await signInState(t)).toEqual(before);
  });

  it('refuses a locked account with LOCKED, as every other method does; nothing written', async () => {
    const { token, userId } = await t.register('locked-pk@example.com');
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await registerPasskey(t, token, authenticator);
    await t.db.query(`UPDATE "User" SET "lockedUntil" = '9999-12-31' WHERE id = $1`, [userId]);
    const before = await signInState(t);
    expect(codeOf(await passkeyLogin(t, authenticator))).toBe('LOCKED');
    expect(await signInState(t)).toEqual(before);
    const failed = await auditRows(t, `type = 'login.failed' AND "userId" = $1`, [userId]);
    expect(failed.map((f) => f.data)).toEqual([{ method: 'PASSKEY', reason: 'locked' }]);
  });
});

describe('managing passkeys', () => {
  it("lets a user delete only their own passkeys, and an admin see and delete anyone's", async () => {
    const owner = await t.register('owner@example.com');
    const other = await t.register('other@example.com');
    const admin = await makeAdmin(t, 'pk-admin@example.com');
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    const first = await registerPasskey(t, owner.token, authenticator, 'Phone');
    const second = await registerPasskey(t, owner.token, authenticator, 'Key');

    expect((await t.gql(DELETE_PASSKEY, { id: first }, { token: other.token })).body.data.deletePasskey).toBe(false);
    expect((await t.gql(DELETE_PASSKEY, { id: 'not-an-id' }, { token: other.token })).body.data.deletePasskey).toBe(false);
    expect((await t.gql(DELETE_PASSKEY, { id: first }, { token: owner.token })).body.data.deletePasskey).toBe(true);
    expect((await t.gql(DELETE_PASSKEY, { id: first }, { token: owner.token })).body.data.deletePasskey).toBe(false);
    expect((await auditRows(t, `type = 'passkey.deleted' AND "userId" = $1`, [owner.userId])).map((e) => e.data)).toEqual([
      { passkeyId: first, name: 'Phone' },
    ]);

    const seen = await t.gql(`query($id: ID) { adminUser(id: $id) { passkeys { id name } } }`, { id: owner.userId }, { token: admin.token });
    expect(seen.body.data.adminUser.passkeys).toEqual([{ id: second, name: 'Key' }]);
    const del = `mutation($id: ID!) { adminDeletePasskey(id: $id) }`;
    expect(codeOf(await t.gql(del, { id: second }, { token: other.token }))).toBe('FORBIDDEN');
    expect((await t.gql(del, { id: second }, { token: admin.token })).body.data.adminDeletePasskey).toBe(true);
    const [audited] = await auditRows(t, `type = 'passkey.deleted' AND "actorId" = $1`, [admin.userId]);
    expect(audited).toMatchObject({ userId: owner.userId, data: { passkeyId: second, name: 'Key' } });
    expect((await t.gql(MY_PASSKEYS, undefined, { token: owner.token })).body.data.myPasskeys).toEqual([]);
    // A deleted passkey signs nobody in.
    expect(codeOf(await passkeyLogin(t, authenticator))).toBe('TOKEN_INVALID');
  });
});
