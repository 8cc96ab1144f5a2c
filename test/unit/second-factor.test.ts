import { describe, expect, it } from 'vitest';
import { proofOf } from '../../src/modules/auth/second-factor/second-factor-proof.ts';
import { RECOVERY_CODE_COUNT, hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from '../../src/modules/auth/second-factor/recovery-codes.ts';
import { matchTotp, newTotpSecret, timeStepAt, totpCodeForStep, totpUri } from '../../src/modules/auth/second-factor/totp.ts';

// The pure rules of the second factor: RFC 6238 codes and their drift window, and the form of
// recovery codes.

// RFC 6238 appendix B, SHA-1: the ASCII secret "12345678901234567890", in base32.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const at = (seconds: number) => new Date(seconds * 1000);

describe('TOTP (RFC 6238, SHA-1, 6 digits, 30 s)', () => {
  it('gives the RFC test vectors (last six digits)', () => {
    expect(totpCodeForStep(RFC_SECRET, timeStepAt(at(59)))).toBe('287082');
    expect(totpCodeForStep(RFC_SECRET, timeStepAt(at(1111111109)))).toBe('081804');
    expect(totpCodeForStep(RFC_SECRET, timeStepAt(at(2000000000)))).toBe('279037');
  });

  it('matches the current step and one either side, returning the step matched; not two away', () => {
    const now = at(1_800_000_015);
    const step = timeStepAt(now);
    for (const delta of [-1, 0, 1]) expect(matchTotp(RFC_SECRET, totpCodeForStep(RFC_SECRET, step + delta), now)).toBe(step + delta);
    for (const delta of [-2, 2, 10]) expect(matchTotp(RFC_SECRET, totpCodeForStep(RFC_SECRET, step + delta), now)).toBeNull();
  });

  it('refuses what is not six digits without throwing', () => {
    const now = at(1_800_000_015);
    for (const code of ['', '12345', '1234567', 'abcdef', ' 12345', '12 456']) expect(matchTotp(RFC_SECRET, code, now)).toBeNull();
  });

  it('makes 20-byte base32 secrets and an otpauth URI with issuer and label', () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(newTotpSecret()).not.toBe(secret);
    const uri = new URL(totpUri({ issuer: 'Acme Corp', label: 'ada@example.com', secret }));
    expect(decodeURIComponent(`${uri.host}${uri.pathname}`)).toBe('totp/Acme Corp:ada@example.com');
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret, issuer: 'Acme Corp' });
    // Left out, apps assume SHA1, 6 digits and 30 s: the only values we use.
    const defaults = { algorithm: 'SHA1', digits: '6', period: '30' };
    for (const [key, value] of Object.entries(defaults)) expect(uri.searchParams.get(key) ?? value).toBe(value);
  });
});

describe('recovery codes', () => {
  it('ten distinct codes, xxxxx-xxxxx, without look-alike characters', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).toBe(RECOVERY_CODE_COUNT);
    for (const code of codes) expect(code).toMatch(/^[a-hjkmnp-z2-9]{5}-[a-hjkmnp-z2-9]{5}$/);
  });

  it('normalizes case, spaces and dashes; refuses anything else', () => {
    expect(normalizeRecoveryCode('ABCDE-FGHJK')).toBe('abcdefghjk');
    expect(normalizeRecoveryCode(' abcde fghjk ')).toBe('abcdefghjk');
    for (const bad of ['', 'abcde-fghj', 'abcde-fghjkm', 'abcde-fghj1', 'abcde-fghjo', 'x'.repeat(1000)]) {
      expect(normalizeRecoveryCode(bad), bad).toBeNull();
    }
  });

  it('is stored as a hash that does not contain the code', () => {
    const hash = hashRecoveryCode('abcdefghjk');
    expect(hash).toBe(hashRecoveryCode(normalizeRecoveryCode('ABCDE-FGHJK')!));
    expect(hash).not.toContain('abcdefghjk');
  });

  it('a `code` argument is read as TOTP when it is six digits, else as a recovery code', () => {
    expect(proofOf('123456')).toEqual({ factor: 'TOTP', code: '123456' });
    expect(proofOf(' 123456 ')).toEqual({ factor: 'TOTP', code: '123456' });
    expect(proofOf('abcde-fghjk')).toEqual({ factor: 'RECOVERY_CODE', code: 'abcde-fghjk' });
  });
});
