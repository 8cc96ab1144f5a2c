import { createPublicKey } from 'node:crypto';
import { SignJWT, base64url, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealContext } from '../../src/modules/access-tokens/signing-keys.ts';
import { createEncryptor, parseKey } from '../../src/platform/encryption.ts';
import { relaxedRateLimits, startTestApp, TEST_ENCRYPTION_KEY, type TestApp } from '../helpers/app.ts';

// Checklist 61. Access tokens: signed with ES256 and a `kid` in the JWKS; `alg: none`, HS256 with
// the public key, an expired or foreign-issuer token fail verification with a standard library
// (`jose`). Every forgery is checked the way a resource server checks a token: against the live
// JWKS, with and without an algorithm allow-list (a careless service passes none).

const ISSUE = `mutation { issueAccessToken { token } }`;

let t: TestApp;
/** Another Portcullis, with keys of its own: the foreign issuer. */
let other: TestApp;
let genuine: string;
let userId: string;
beforeAll(async () => {
  [t, other] = await Promise.all([
    startTestApp({ env: { RATE_LIMITS: `${relaxedRateLimits};issueAccessToken=3/15m:USER` } }),
    startTestApp({ env: { PUBLIC_URL: 'https://other.example.com' } }),
  ]);
  const user = await t.register('item61@example.com');
  userId = user.userId;
  const r = await t.gql(ISSUE, {}, { token: user.token });
  genuine = r.body.data.issueAccessToken.token;
});
afterAll(async () => {
  await Promise.all([t?.close(), other?.close()]);
});

const jwksUrl = () => new URL(`${t.url}/.well-known/jwks.json`);
/** A fresh remote JWKS, as a resource server that has just started; patient with a loaded machine. */
const remoteKeys = () => createRemoteJWKSet(jwksUrl(), { timeoutDuration: 20_000 });
const publicJwks = async () => ((await (await fetch(jwksUrl())).json()) as { keys: JWK[] }).keys;

/** Verifies with a fresh remote JWKS; `strict` adds the allow-list a careful service sets. */
function verify(token: string, { strict = true, at = t.clock.now() } = {}) {
  const options = { issuer: t.config.publicUrl, audience: t.config.publicUrl, currentDate: at };
  return jwtVerify(token, remoteKeys(), strict ? { ...options, algorithms: ['ES256'] } : options);
}

async function expectRefused(token: string, codes: string[]) {
  for (const strict of [true, false]) {
    const error = await verify(token, { strict }).then(
      () => null,
      (err: { code?: string }) => err,
    );
    expect(error, `accepted with strict=${strict}`).not.toBeNull();
    expect(codes).toContain(error!.code);
  }
}

const segments = (token: string) => token.split('.') as [string, string, string];
const encode = (value: object) => base64url.encode(JSON.stringify(value));

describe('checklist 61: access tokens', () => {
  it('signs with ES256 and a kid the JWKS serves as a public P-256 key only', async () => {
    const header = decodeProtectedHeader(genuine);
    expect(header.alg).toBe('ES256');
    const keys = await publicJwks();
    const key = keys.find((k) => k.kid === header.kid);
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect((await verify(genuine)).payload.sub).toBe(userId);
  });

  it('refuses `alg: none`', async () => {
    const [header, payload] = segments(genuine);
    const kid = decodeProtectedHeader(genuine).kid;
    for (const alg of ['none', 'None', 'NONE']) {
      await expectRefused(`${encode({ alg, kid, typ: 'at+jwt' })}.${payload}.`, ['ERR_JOSE_ALG_NOT_ALLOWED', 'ERR_JOSE_NOT_SUPPORTED', 'ERR_JWS_INVALID']);
    }
    // The genuine header with the signature stripped fails as well.
    await expectRefused(`${header}.${payload}.`, ['ERR_JWS_INVALID', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED']);
  });

  it('refuses an HS256 token whose secret is the public key (as JWK, PEM or DER)', async () => {
    const kid = decodeProtectedHeader(genuine).kid!;
    const jwk = (await publicJwks()).find((k) => k.kid === kid)!;
    const pem = createPublicKey({ key: jwk as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const der = createPublicKey({ key: jwk as any, format: 'jwk' }).export({ type: 'spki', format: 'der' });
    const claims = { ...decodeJwt(genuine), role: 'ADMIN' };
    for (const secret of [new TextEncoder().encode(pem), new TextEncoder().encode(JSON.stringify(jwk)), new Uint8Array(der)]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' }).sign(secret);
      await expectRefused(forged, ['ERR_JOSE_ALG_NOT_ALLOWED', 'ERR_JOSE_NOT_SUPPORTED', 'ERR_JWKS_NO_MATCHING_KEY']);
    }
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [header, , signature] = segments(genuine);
    for (const change of [{ role: 'ADMIN' }, { sub: '00000000-0000-4000-8000-000000000000' }, { exp: decodeJwt(genuine).exp! + 3600 }]) {
      await expectRefused(`${header}.${encode({ ...decodeJwt(genuine), ...change })}.${signature}`, ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED']);
    }
  });

  it('refuses an expired token', async () => {
    const exp = decodeJwt(genuine).exp!;
    expect((await verify(genuine, { at: new Date((exp - 1) * 1000) })).payload.sub).toBe(userId);
    const error = await verify(genuine, { at: new Date((exp + 1) * 1000) }).catch((err) => err);
    expect(error.code).toBe('ERR_JWT_EXPIRED');
  });

  it('refuses a token of a foreign issuer: another signing key, even under our kid and iss', async () => {
    const kid = decodeProtectedHeader(genuine).kid!;
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ ...decodeJwt(genuine), role: 'ADMIN' }).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(privateKey);
    await expectRefused(forged, ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED']);
  });

  it('refuses a token of a foreign issuer: another Portcullis, and a service expecting another issuer refuses ours', async () => {
    const user = await other.register('foreign@example.com');
    const foreign = (await other.gql(ISSUE, {}, { token: user.token })).body.data.issueAccessToken.token;
    expect(decodeJwt(foreign).iss).toBe('https://other.example.com');
    await expectRefused(foreign, ['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWT_CLAIM_VALIDATION_FAILED']);
    // `iss` is checked, not only the signature: a service expecting another issuer refuses ours.
    const error = await jwtVerify(genuine, remoteKeys(), { issuer: 'https://other.example.com', currentDate: t.clock.now() }).catch((e) => e);
    expect(error).toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
  });

  it('keeps the private key sealed: no column of any table holds it in clear, and no log line', async () => {
    const [row] = await t.db.query<{ kid: string; sealedPrivateJwk: string }>(`SELECT kid, "sealedPrivateJwk" FROM "SigningKey"`);
    const encryptor = createEncryptor(parseKey(TEST_ENCRYPTION_KEY)!);
    const privateJwk = JSON.parse(encryptor.open(row!.sealedPrivateJwk, sealContext(row!.kid))) as JWK;
    // It is the key that signs the tokens…
    const signed = await new SignJWT({ probe: true }).setProtectedHeader({ alg: 'ES256', kid: row!.kid }).sign(await importJWK(privateJwk, 'ES256'));
    expect((await jwtVerify(signed, remoteKeys(), { currentDate: t.clock.now() })).payload.probe).toBe(true);
    // …bound to its row: the sealed value does not open as another key's.
    expect(() => encryptor.open(row!.sealedPrivateJwk, sealContext('another-kid'))).toThrow();
    // …and neither it nor its sealed form is anywhere else in clear.
    const tables = await t.db.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`);
    for (const { name } of tables) {
      const rows = await t.db.query<{ text: string }>(`SELECT t::text AS text FROM "${name}" t`);
      for (const { text } of rows) expect(text.includes(privateJwk.d!), `private key in clear in ${name}`).toBe(false);
    }
    expect(t.logs.some((line) => line.includes('signing key created') && line.includes(row!.kid))).toBe(true);
    for (const line of t.logs) {
      expect(line.includes(privateJwk.d!)).toBe(false);
      expect(line.includes(row!.sealedPrivateJwk)).toBe(false);
    }
  });

  it('limits issueAccessToken per user', async () => {
    const user = await t.register('item61-limit@example.com');
    const codes: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) codes.push((await t.gql(ISSUE, {}, { token: user.token })).body.errors?.[0]?.extensions.code);
    expect(codes).toEqual([undefined, undefined, undefined, 'RATE_LIMITED']);
    // Another user of the same address is not held back.
    const neighbour = await t.register('item61-neighbour@example.com');
    expect((await t.gql(ISSUE, {}, { token: neighbour.token })).body.data.issueAccessToken.token).toMatch(/^ey/);
  });
});
