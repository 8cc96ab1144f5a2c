import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceServer } from '../../examples/resource-server/server.ts';
import { authenticationMethods } from '../../src/modules/access-tokens/access-tokens.service.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { DAY, FakeClock, HOUR, MINUTE } from '../helpers/clock.ts';

// Issue 17: access tokens verified with `jose` against the live JWKS, exactly as a resource server
// does. Checklist item 61 (forged tokens) is in test/security/access-tokens.test.ts.

const ISSUE = `mutation($input: IssueAccessTokenInput) { issueAccessToken(input: $input) { token expiresAt } }`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function issue(t: TestApp, token: string, audience?: string): Promise<{ token: string; expiresAt: string }> {
  const r = await t.gql(ISSUE, audience === undefined ? {} : { input: { audience } }, { token });
  if (!r.body.data?.issueAccessToken) throw new Error(`issueAccessToken failed: ${JSON.stringify(r.body.errors)}`);
  return r.body.data.issueAccessToken;
}

/** Verifies as a resource server that has just started: a fresh remote JWKS, the app's clock. */
function verify(t: TestApp, token: string, options: { audience?: string; at?: Date } = {}) {
  const keys = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`), { timeoutDuration: 20_000 });
  return jwtVerify(token, keys, {
    issuer: t.config.publicUrl,
    audience: options.audience ?? t.config.publicUrl,
    algorithms: ['ES256'],
    currentDate: options.at ?? t.clock.now(),
  });
}

const jwks = async (t: TestApp) => (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
const keyRows = (t: TestApp) =>
  t.db.query<{ kid: string; signsFrom: Date; retiresAt: Date | null }>(`SELECT kid, "signsFrom", "retiresAt" FROM "SigningKey" ORDER BY "signsFrom"`);

describe('the amr claim (RFC 8176)', () => {
  it('names the way the session was opened, and adds mfa once a second factor was given', () => {
    expect(authenticationMethods('PASSWORD')).toEqual(['pwd']);
    expect(authenticationMethods('MAGIC_LINK')).toEqual(['email']);
    expect(authenticationMethods('EMAIL_CODE')).toEqual(['email']);
    expect(authenticationMethods('OAUTH')).toEqual(['fed']);
    expect(authenticationMethods('PASSWORD', ['otp'])).toEqual(['pwd', 'otp', 'mfa']);
    expect(authenticationMethods('EMAIL_CODE', ['hwk', 'user'])).toEqual(['email', 'hwk', 'user', 'mfa']);
  });
});

describe('issueAccessToken', () => {
  let t: TestApp;
  // The wall clock's time, so the example resource server (which checks `exp` by the real time) accepts the tokens.
  beforeAll(async () => {
    t = await startTestApp({ clock: new FakeClock(Date.now()) });
  });
  afterAll(() => t.close());

  it('signs the claims of API.md with ES256, a kid of the JWKS, iss = PUBLIC_URL and a unique jti', async () => {
    const user = await t.register('claims@example.com');
    const issued = await issue(t, user.token);
    const second = await issue(t, user.token);
    const iat = Math.floor(t.clock.now().getTime() / 1000);

    const { payload, protectedHeader } = await verify(t, issued.token);
    const { keys } = await jwks(t);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(keys.map((k) => k.kid)).toEqual([protectedHeader.kid]);
    expect(payload).toEqual({
      iss: 'http://localhost:4000',
      sub: user.userId,
      aud: 'http://localhost:4000',
      sid: user.sessionId,
      role: 'USER',
      email: 'claims@example.com',
      email_verified: false,
      amr: ['pwd'],
      iat,
      exp: iat + 300,
      jti: expect.stringMatching(UUID),
    } satisfies JWTPayload);
    expect(issued.expiresAt).toBe(new Date((iat + 300) * 1000).toISOString());
    expect((await verify(t, second.token)).payload.jti).not.toBe(payload.jti);
    // One key made, and used for both.
    expect((await keyRows(t)).map((k) => k.kid)).toEqual([protectedHeader.kid]);
    expect(decodeProtectedHeader(second.token).kid).toBe(protectedHeader.kid);
  });

  it('carries the given audience, which a service expecting another one refuses', async () => {
    const user = await t.register('audience@example.com');
    const { token } = await issue(t, user.token, 'https://billing.example.com');
    expect((await verify(t, token, { audience: 'https://billing.example.com' })).payload.aud).toBe('https://billing.example.com');
    await expect(verify(t, token)).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
  });

  it('refuses an empty, overlong or control-character audience with BAD_USER_INPUT', async () => {
    const user = await t.register('bad-audience@example.com');
    for (const audience of ['', 'a'.repeat(201), 'svc\u0000x', 'svc\u0085x']) {
      const r = await t.gql(ISSUE, { input: { audience } }, { token: user.token });
      expect(r.body.data?.issueAccessToken).toBeUndefined();
      expect(r.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    }
    expect((await verify(t, (await issue(t, user.token, 'a'.repeat(200))).token, { audience: 'a'.repeat(200) })).payload.sub).toBe(user.userId);
  });

  it('gives no token to a revoked session, nor to an anonymous caller', async () => {
    const user = await t.register('revoked@example.com');
    await issue(t, user.token);
    expect((await t.gql(`mutation { logout }`, {}, { token: user.token })).body.data.logout).toBe(true);
    for (const token of [user.token, undefined]) {
      const r = await t.gql(ISSUE, {}, { token });
      expect(r.status).toBe(401);
      expect(r.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
      expect(r.body.data?.issueAccessToken).toBeUndefined();
    }
  });

  it('publishes the discovery document and a JWKS cached no longer than the overlap', async () => {
    const discovery = await fetch(`${t.url}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(await discovery.json()).toMatchObject({
      issuer: 'http://localhost:4000',
      jwks_uri: 'http://localhost:4000/.well-known/jwks.json',
      id_token_signing_alg_values_supported: ['ES256'],
    });
    const r = await fetch(`${t.url}/.well-known/jwks.json`);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const maxAge = Number(/^public, max-age=(\d+)$/.exec(r.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(300);
    expect((await fetch(`${t.url}/.well-known/jwks.json`, { method: 'POST' })).status).toBe(405);
  });

  it('lets the example resource server answer 200 with the subject for a valid token and 401 otherwise', async () => {
    const audience = 'https://api.example.com';
    const server = createResourceServer({ issuer: t.config.publicUrl, audience, jwksUrl: `${t.url}/.well-known/jwks.json` });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const call = (token?: string) =>
      fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    try {
      const user = await t.register('resource@example.com');
      const ok = await call((await issue(t, user.token, audience)).token);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ sub: user.userId, role: 'USER' });
      expect((await call((await issue(t, user.token)).token)).status).toBe(401); // meant for Portcullis itself
      expect((await call()).status).toBe(401);
      expect((await call(user.token)).status).toBe(401); // a session token is not an access token
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('expiry and key rotation (fake clock)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { ACCESS_TOKEN_TTL: '120' } });
  });
  afterAll(() => t.close());

  it('expires a token ACCESS_TOKEN_TTL after it was issued', async () => {
    const user = await t.register('expiry@example.com');
    const { token } = await issue(t, user.token);
    const issuedAt = t.clock.now().getTime();
    expect((await verify(t, token, { at: new Date(issuedAt + 119_000) })).payload.exp).toBe(Math.floor(issuedAt / 1000) + 120);
    await expect(verify(t, token, { at: new Date(issuedAt + 121_000) })).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('gives no token once the session has expired', async () => {
    const user = await t.register('expired-session@example.com');
    t.clock.advance(8 * DAY);
    const r = await t.gql(ISSUE, {}, { token: user.token });
    expect(r.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('publishes a successor ahead, signs with it after 30 days, and drops the old key once its tokens expired', async () => {
    const user = await t.register('rotation@example.com');
    const old = await issue(t, user.token);
    const oldKid = decodeProtectedHeader(old.token).kid;
    const oldIssuedAt = t.clock.now();

    // Sessions do not last 30 days: each step signs in anew.
    t.clock.advance(30 * DAY);
    const later = await t.register('rotation-later@example.com');
    const stillOld = await issue(t, later.token);
    expect(decodeProtectedHeader(stillOld.token).kid).toBe(oldKid);
    const rows = await keyRows(t);
    expect(rows).toHaveLength(2);
    const newKid = rows[1]!.kid;
    expect(rows[1]!.signsFrom.getTime()).toBe(t.clock.now().getTime() + HOUR);
    // Announced before it signs: caches hold it in time.
    expect((await jwks(t)).keys.map((k) => k.kid)).toEqual([oldKid, newKid]);

    t.clock.advance(HOUR);
    const fresh = await issue(t, later.token);
    expect(decodeProtectedHeader(fresh.token).kid).toBe(newKid);
    // Until the last token of the old key has expired (TTL + a minute's margin), both stay published.
    t.clock.advance(2 * MINUTE + 59_000);
    expect((await jwks(t)).keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
    expect((await verify(t, old.token, { at: oldIssuedAt })).protectedHeader.kid).toBe(oldKid);

    t.clock.advance(2_000);
    expect((await jwks(t)).keys.map((k) => k.kid)).toEqual([newKid]);
    await expect(verify(t, old.token, { at: oldIssuedAt })).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    expect((await verify(t, fresh.token, { at: new Date(t.clock.now().getTime() - 3 * MINUTE) })).payload.sub).toBe(later.userId);
  });
});

describe('two instances on one database', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ db: a.db, clock: a.clock });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it('make one key between them, serve the same JWKS, and verify each other’s tokens', async () => {
    const user = await a.register('two@example.com');
    // Both need a key at the same moment: the advisory lock lets one of them make it.
    const [fromA, fromB] = await Promise.all([issue(a, user.token), issue(b, user.token)]);
    expect(await keyRows(a)).toHaveLength(1);
    expect(await jwks(b)).toEqual(await jwks(a));
    expect((await verify(b, fromA.token)).payload.sub).toBe(user.userId);
    expect((await verify(a, fromB.token)).payload.sub).toBe(user.userId);
    expect(decodeProtectedHeader(fromA.token).kid).toBe(decodeProtectedHeader(fromB.token).kid);
  });

  it('rotate once between them, and switch to the successor at the same instant', async () => {
    a.clock.advance(30 * DAY);
    const user = await a.register('two-rotate@example.com');
    await Promise.all([issue(a, user.token), issue(b, user.token), jwks(a), jwks(b)]);
    expect(await keyRows(a)).toHaveLength(2);
    expect(await jwks(b)).toEqual(await jwks(a));
    a.clock.advance(HOUR);
    const [fromA, fromB] = await Promise.all([issue(a, user.token), issue(b, user.token)]);
    const successor = (await keyRows(a))[1]!.kid;
    expect([decodeProtectedHeader(fromA.token).kid, decodeProtectedHeader(fromB.token).kid]).toEqual([successor, successor]);
    expect((await verify(b, fromA.token)).payload.sub).toBe(user.userId);
  });
});
