import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { SESSION_REVOKED } from '../helpers/realtime.ts';
import { COMPLETE, CONFIRM_TOTP, ME, PASSWORD, START_TOTP, codeAt, codeOf, nextStep, passwordLogin, sseFirstResult } from '../helpers/second-factor.ts';
import { connectWs } from '../../scripts/ws-connection.ts';

// Acceptance of issue 15, the full story: enrol, sign in by password (pending), the pending
// session refused on HTTP, WebSocket and SSE, `me` answered, completed with a code otplib
// computes from the secret the API returned; the same code refused afterwards, on this instance
// and on a second one sharing the database.

const MY_SESSIONS = `{ mySessions { id } }`;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  a = await startTestApp();
  b = await startTestApp({ db: a.db, clock: a.clock });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

describe('the full story', () => {
  const email = 'story@example.com';
  let secret: string;
  let enrollingToken: string;

  it('enrols: a secret, its otpauth URI and QR code, then 10 recovery codes; other sessions revoked', async () => {
    const { token } = await a.register(email, PASSWORD);
    enrollingToken = token;
    const other = await passwordLogin(a, email);
    expect(other.pending).toBe(false);

    const wrongPassword = await a.gql(START_TOTP, { input: { password: 'not the password' } }, { token });
    expect(codeOf(wrongPassword)).toBe('BAD_USER_INPUT');
    const started = await a.gql(START_TOTP, { input: { password: PASSWORD } }, { token });
    expect(started.body.errors).toBeUndefined();
    const enrollment = started.body.data.startTotpEnrollment;
    secret = enrollment.secret;
    a.rememberSecret(secret);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 20 bytes, base32
    const uri = new URL(enrollment.otpauthUrl);
    expect(uri.protocol).toBe('otpauth:');
    expect(decodeURIComponent(`${uri.host}${uri.pathname}`)).toBe(`totp/Portcullis:${email}`);
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('Portcullis');
    expect(enrollment.qrCodeSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);

    const wrong = await a.gql(CONFIRM_TOTP, { code: codeAt(secret, a.clock, 3) }, { token });
    expect(codeOf(wrong)).toBe('TOKEN_INVALID');
    const confirmed = await a.gql(CONFIRM_TOTP, { code: codeAt(secret, a.clock) }, { token });
    expect(confirmed.body.errors).toBeUndefined();
    const codes: string[] = confirmed.body.data.confirmTotpEnrollment.codes;
    for (const code of codes) a.rememberSecret(code);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z0-9]{5}-[a-z0-9]{5}$/);

    // The session that enrolled stays and counts as having given TOTP; the other one is revoked.
    const me = await a.gql(ME, {}, { token });
    expect(me.body.data.me).toMatchObject({ email, secondFactorEnabled: true, recoveryCodesLeft: 10 });
    expect(codeOf(await a.gql(ME, {}, { token: other.token }))).toBe('UNAUTHENTICATED');
    const [revoked] = await a.db.query<{ revokeReason: string }>(`SELECT "revokeReason" FROM "Session" WHERE id = $1`, [other.sessionId]);
    expect(revoked!.revokeReason).toBe('SECOND_FACTOR_CHANGED');
    expect(codeOf(await a.gql(START_TOTP, { input: { password: PASSWORD } }, { token }))).toBe('CONFLICT');
  });

  it('a password sign-in is pending: refused on HTTP, WebSocket and SSE but for me; completed with an otplib code', async () => {
    const pending = await a.gql(
      `mutation($email: String!, $password: String!) { login(input: { email: $email, password: $password }) {
        token secondFactorRequired user { email } session { id secondFactorPending secondFactor } } }`,
      { email, password: PASSWORD },
    );
    const login = pending.body.data.login;
    expect(login).toMatchObject({ secondFactorRequired: true, user: { email }, session: { secondFactorPending: true, secondFactor: null } });
    const token: string = login.token;

    // HTTP: anything but me, logout and completeSecondFactor, including fields open to anyone.
    for (const query of [MY_SESSIONS, `{ oauthProviders { id } }`, `mutation { revokeOtherSessions }`, `mutation { issueAccessToken { token } }`]) {
      const r = await a.gql(query, {}, { token });
      expect(codeOf(r), query).toBe('SECOND_FACTOR_REQUIRED');
      expect(r.body.errors![0]!.extensions.http?.status).toBe(401);
      expect(r.body.data ?? null).toBeNull();
    }
    const me = await a.gql(`{ me { email secondFactorEnabled recoveryCodesLeft } }`, {}, { token });
    expect(me.body.data.me).toEqual({ email, secondFactorEnabled: true, recoveryCodesLeft: null });

    // WebSocket: connection_init accepted, each subscribe (and query) refused with the code.
    const ws = connectWs(a.url, { token });
    const sub = await ws.request(SESSION_REVOKED);
    expect(sub.errors?.[0]?.extensions?.code).toBe('SECOND_FACTOR_REQUIRED');
    expect((await ws.request(MY_SESSIONS)).errors?.[0]?.extensions?.code).toBe('SECOND_FACTOR_REQUIRED');
    expect((await ws.request(`{ me { email } }`)).data).toEqual({ me: { email } });

    // SSE: the same.
    const sse = await sseFirstResult(a.url, SESSION_REVOKED, token);
    expect(sse.errors?.[0]?.extensions?.code).toBe('SECOND_FACTOR_REQUIRED');

    nextStep(a.clock); // the step that confirmed the enrolment is spent
    const code = codeAt(secret, a.clock);
    const done = await a.gql(COMPLETE, { code }, { token });
    expect(done.body.errors).toBeUndefined();
    expect(done.body.data.completeSecondFactor).toMatchObject({
      token,
      secondFactorRequired: false,
      user: { email },
      session: { id: login.session.id, secondFactor: 'TOTP', secondFactorPending: false },
    });
    expect((await a.gql(MY_SESSIONS, {}, { token })).body.data.mySessions.length).toBeGreaterThan(0);
    // Access tokens say both factors were given (RFC 8176: password, one-time password, mfa).
    const jwt: string = (await a.gql(`mutation { issueAccessToken { token } }`, {}, { token })).body.data.issueAccessToken.token;
    expect(JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).amr).toEqual(['pwd', 'otp', 'mfa']);
    // The socket opened while pending serves its next subscribe-level operation at once.
    expect((await ws.request(MY_SESSIONS)).data.mySessions.length).toBeGreaterThan(0);
    await ws.dispose();

    // The same code again: refused here, and on the second instance.
    const again = await passwordLogin(a, email);
    expect(codeOf(await a.gql(COMPLETE, { code }, { token: again.token }))).toBe('TOKEN_INVALID');
    const onB = await passwordLogin(b, email);
    expect(onB.pending).toBe(true);
    expect(codeOf(await b.gql(COMPLETE, { code }, { token: onB.token }))).toBe('TOKEN_INVALID');
    // A fresh step works on B, and then not on A.
    nextStep(a.clock);
    const fresh = codeAt(secret, a.clock);
    expect((await b.gql(COMPLETE, { code: fresh }, { token: onB.token })).body.data.completeSecondFactor.secondFactorRequired).toBe(false);
    expect(codeOf(await a.gql(COMPLETE, { code: fresh }, { token: again.token }))).toBe('TOKEN_INVALID');
    expect(enrollingToken).toBeTruthy();
  });

  it('one code given at once to both instances is accepted by exactly one', async () => {
    // A fresh per-account budget: the wrong codes above must not answer RATE_LIMITED here.
    await a.db.query(`DELETE FROM "Throttle" WHERE scope = 'second-factor'`);
    const one = await passwordLogin(a, email);
    const two = await passwordLogin(b, email);
    nextStep(a.clock);
    const code = codeAt(secret, a.clock);
    const results = await Promise.all([a.gql(COMPLETE, { code }, { token: one.token }), b.gql(COMPLETE, { code }, { token: two.token })]);
    const accepted = results.filter((r) => r.body.data?.completeSecondFactor);
    expect(accepted).toHaveLength(1);
    expect(results.map(codeOf).filter(Boolean)).toEqual(['TOKEN_INVALID']);
  });

  it('a full session has no second factor to give; an anonymous caller must sign in', async () => {
    expect(codeOf(await a.gql(COMPLETE, { code: '123456' }, { token: enrollingToken }))).toBe('FORBIDDEN');
    expect(codeOf(await a.gql(COMPLETE, { code: '123456' }))).toBe('UNAUTHENTICATED');
  });

  it('logout works on a pending session', async () => {
    const pending = await passwordLogin(a, email);
    const r = await a.gql(`mutation { logout }`, {}, { token: pending.token });
    expect(r.body.data).toEqual({ logout: true });
    expect(codeOf(await a.gql(ME, {}, { token: pending.token }))).toBe('UNAUTHENTICATED');
  });
});
