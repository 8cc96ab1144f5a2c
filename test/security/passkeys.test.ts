import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relaxedRateLimits, startTestApp, type TestApp } from '../helpers/app.ts';
import { fastQueue } from '../helpers/passwordless.ts';
import { auditRows } from '../helpers/admin.ts';
import { MINUTE } from '../helpers/clock.ts';
import { LOGIN_WITH_PASSKEY, ORIGIN, passkeyEnv, passkeyLogin, registerPasskey, signInState, startSignIn } from '../helpers/passkeys.ts';
import { codeOf } from '../helpers/second-factor.ts';
import { eventually } from '../helpers/eventually.ts';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.ts';

// Checklist 60. Passkeys: a challenge is used once and expires in 5 minutes; a response for
// another origin or RP id, or with a signature counter that went backwards, is refused. Each
// refusal leaves every session and every passkey's counter as it was, and is audited.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ env: passkeyEnv, configure: fastQueue });
});
afterAll(async () => {
  await t.close();
});

/** A user with one passkey in `authenticator`, signed in once (counter 1). */
async function userWithPasskey(email: string) {
  const { token, userId } = await t.register(email);
  const authenticator = new SoftwareAuthenticator(ORIGIN);
  const passkeyId = await registerPasskey(t, token, authenticator);
  const first = await passkeyLogin(t, authenticator);
  expect(first.body.errors).toBeUndefined();
  return { userId, authenticator, passkeyId };
}

const login = (challengeId: string, response: string) => t.gql(LOGIN_WITH_PASSKEY, { input: { challengeId, response } });

/** `attempt` is refused with `code` and writes no session and no counter. */
async function refusedUnchanged(code: string, attempt: () => Promise<{ body: { errors?: any[] } }>) {
  const before = await signInState(t);
  expect(codeOf(await attempt())).toBe(code);
  expect(await signInState(t)).toEqual(before);
}

describe('60. Passkeys: a challenge is used once and expires in 5 minutes; another origin or RP id, or a counter that went backwards, is refused', () => {
  it('a challenge used once: a replay of the same assertion, or a new assertion on a spent challenge, is TOKEN_INVALID', async () => {
    const { authenticator } = await userWithPasskey('replay@example.com');
    const { challengeId, options } = await startSignIn(t);
    const response = authenticator.assert(options);
    expect((await login(challengeId, response)).body.errors).toBeUndefined();
    await refusedUnchanged('TOKEN_INVALID', () => login(challengeId, response));
    await refusedUnchanged('TOKEN_INVALID', () => login(challengeId, authenticator.assert(options)));
  });

  it('a challenge presented twice at once signs in exactly once', async () => {
    const { authenticator, userId } = await userWithPasskey('race@example.com');
    const { challengeId, options } = await startSignIn(t);
    const response = authenticator.assert(options);
    const sessionsBefore = (await t.db.query(`SELECT 1 FROM "Session" WHERE "userId" = $1`, [userId])).length;
    const results = await Promise.all(Array.from({ length: 5 }, () => login(challengeId, response)));
    expect(results.filter((r) => !r.body.errors)).toHaveLength(1);
    expect(results.filter((r) => codeOf(r) === 'TOKEN_INVALID')).toHaveLength(4);
    expect(await t.db.query(`SELECT 1 FROM "Session" WHERE "userId" = $1`, [userId])).toHaveLength(sessionsBefore + 1);
  });

  it('a challenge past 5 minutes (fake clock) is TOKEN_EXPIRED; just before, it works', async () => {
    const { authenticator } = await userWithPasskey('expiry@example.com');
    const late = await startSignIn(t);
    const onTime = await startSignIn(t);
    t.clock.advance(5 * MINUTE - 1000);
    expect((await login(onTime.challengeId, authenticator.assert(onTime.options))).body.errors).toBeUndefined();
    t.clock.advance(1000);
    await refusedUnchanged('TOKEN_EXPIRED', () => login(late.challengeId, authenticator.assert(late.options)));
    const [failed] = (await auditRows(t, `type = 'login.failed'`)).slice(-1);
    expect(failed!.data).toEqual({ method: 'PASSKEY', reason: 'expired_challenge' });
  });

  it('a response made for another origin, or for another RP id, is TOKEN_INVALID', async () => {
    const { authenticator, userId } = await userWithPasskey('origin@example.com');
    for (const bend of [{ origin: 'https://evil.example' }, { origin: 'http://app.example.test' }, { rpId: 'evil.example' }]) {
      const { challengeId, options } = await startSignIn(t);
      await refusedUnchanged('TOKEN_INVALID', () => login(challengeId, authenticator.assert(options, bend)));
    }
    const failed = await auditRows(t, `type = 'login.failed' AND "userId" = $1`, [userId]);
    expect(failed.map((f) => f.data)).toEqual(Array(3).fill({ method: 'PASSKEY', reason: 'verification_failed' }));
  });

  it('a signature counter that went backwards, or stood still, is refused; the stored counter stays', async () => {
    const { authenticator, passkeyId } = await userWithPasskey('counter@example.com');
    expect((await passkeyLogin(t, authenticator, { bend: { counter: 10 } })).body.errors).toBeUndefined();
    for (const counter of [3, 10]) {
      await refusedUnchanged('TOKEN_INVALID', () => passkeyLogin(t, authenticator, { bend: { counter } }));
    }
    expect((await t.db.query(`SELECT counter::text AS c FROM "Passkey" WHERE id = $1`, [passkeyId]))[0]).toEqual({ c: '10' });
    const failed = await auditRows(t, `type = 'login.failed' AND data LIKE '%"counter"%'`);
    expect(failed).toHaveLength(2);
    expect((await passkeyLogin(t, authenticator, { bend: { counter: 11 } })).body.errors).toBeUndefined();
  });

  it('an authenticator that keeps no counter (always 0) is accepted each time', async () => {
    const { token } = await t.register('nocounter@example.com');
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await registerPasskey(t, token, authenticator);
    for (let i = 0; i < 2; i++) expect((await passkeyLogin(t, authenticator, { bend: { counter: 0 } })).body.errors).toBeUndefined();
  });

  it("another user's credential: A's assertion on a challenge started for B's email is TOKEN_INVALID", async () => {
    const a = await userWithPasskey('cred-a@example.com');
    await userWithPasskey('cred-b@example.com');
    await refusedUnchanged('TOKEN_INVALID', () => passkeyLogin(t, a.authenticator, { email: 'cred-b@example.com' }));
    // A user handle naming another account than the credential's owner is refused too.
    const { challengeId, options } = await startSignIn(t);
    const forged = JSON.parse(a.authenticator.assert(options));
    forged.response.userHandle = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
    await refusedUnchanged('TOKEN_INVALID', () => login(challengeId, JSON.stringify(forged)));
  });

  it('a tampered signature, an unverified user or an unknown credential is TOKEN_INVALID', async () => {
    const { authenticator } = await userWithPasskey('tamper@example.com');
    const { challengeId, options } = await startSignIn(t);
    const tampered = JSON.parse(authenticator.assert(options));
    const signature = Buffer.from(tampered.response.signature, 'base64url');
    signature[signature.length - 1]! ^= 1;
    tampered.response.signature = signature.toString('base64url');
    await refusedUnchanged('TOKEN_INVALID', () => login(challengeId, JSON.stringify(tampered)));
    await refusedUnchanged('TOKEN_INVALID', () => passkeyLogin(t, authenticator, { bend: { unverified: true } }));
    const stranger = new SoftwareAuthenticator(ORIGIN);
    stranger.register(JSON.stringify({ challenge: 'x', rp: { id: 'example.test' }, user: { id: 'AAAA' } }));
    await refusedUnchanged('TOKEN_INVALID', () => passkeyLogin(t, stranger));
    await refusedUnchanged('TOKEN_INVALID', () => login('not-a-uuid', authenticator.assert(options)));
  });

  it('sign-in attempts are rate limited per IP like the other sign-in methods', async () => {
    const limited = await startTestApp({ env: { ...passkeyEnv, RATE_LIMITS: `${relaxedRateLimits};loginWithPasskey=2/15m:IP` } });
    try {
      const { challengeId } = (await limited.gql(`mutation { startPasskeySignIn { challengeId } }`)).body.data.startPasskeySignIn;
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push(codeOf(await limited.gql(LOGIN_WITH_PASSKEY, { input: { challengeId, response: '{}' } })));
      expect(codes).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT', 'RATE_LIMITED']);
    } finally {
      await limited.close();
    }
  });
});

describe('51. A credential planted on an unverified account is dropped when the owner proves the address', () => {
  it("a squatter's passkey stops signing in once the owner signs in by magic link", async () => {
    const squatter = await t.register('planted@example.com', 'squatter password');
    const authenticator = new SoftwareAuthenticator(ORIGIN);
    await registerPasskey(t, squatter.token, authenticator);
    await t.gql(`mutation { requestMagicLink(input: { email: "planted@example.com" }) }`);
    const token = await eventually(
      async () => {
        const { mails } = (await (await fetch(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } })).json()) as {
          mails: Array<{ to: string; template: string; text: string }>;
        };
        const mail = mails.find((m) => m.to === 'planted@example.com' && m.template === 'magic-link');
        return mail && new URL(/https?:\/\/\S+/.exec(mail.text)![0]).searchParams.get('token')!;
      },
      'the magic link in the outbox',
      15_000,
    );
    t.rememberSecret(token);
    const owner = await t.gql(`mutation($input: LoginWithMagicLinkInput!) { loginWithMagicLink(input: $input) { token } }`, {
      input: { email: 'planted@example.com', token },
    });
    expect(owner.body.errors).toBeUndefined();
    expect(await t.db.query(`SELECT 1 FROM "Passkey" WHERE "userId" = $1`, [squatter.userId])).toEqual([]);
    await refusedUnchanged('TOKEN_INVALID', () => passkeyLogin(t, authenticator));
    const [verified] = await auditRows(t, `type = 'email.verified' AND "userId" = $1`, [squatter.userId]);
    expect(verified!.data.dropped).toMatchObject({ password: true, passkeys: 1 });
  });
});
