import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import { cbor } from '../helpers/software-authenticator.ts';

// The relying party of passkeys (WEBAUTHN_RP_ID, WEBAUTHN_ORIGINS), and the CBOR encoder the
// software authenticator builds attestation objects with (checked against RFC 8949 appendix A).

describe('WebAuthn settings', () => {
  it('default to the host and origin of FRONTEND_URL, and APP_NAME as the RP name', () => {
    const config = loadConfig({ FRONTEND_URL: 'https://app.example.com/portal', APP_NAME: 'Acme' });
    expect(config.webauthn).toMatchObject({ rpId: 'app.example.com', origins: ['https://app.example.com'], rpName: 'Acme' });
    expect(config.webauthn).toMatchObject({ challengeTtlMs: 5 * 60_000, maxPerUser: 20 });
    expect(loadConfig({}).webauthn).toMatchObject({ rpId: 'localhost', origins: ['http://localhost:4000'], rpName: 'Portcullis' });
  });

  it('take a parent domain as RP id and several origins on it', () => {
    const config = loadConfig({ WEBAUTHN_RP_ID: 'Example.com', WEBAUTHN_ORIGINS: 'https://app.example.com/, https://example.com' });
    expect(config.webauthn).toMatchObject({ rpId: 'example.com', origins: ['https://app.example.com', 'https://example.com'] });
  });

  it('refuse an origin outside the RP id, or an RP id that is not a host name', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(env)}`);
    };
    expect(refused({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://evil-example.com' })).toContain('WEBAUTHN_ORIGINS');
    expect(refused({ WEBAUTHN_RP_ID: 'https://example.com' })).toContain('WEBAUTHN_RP_ID');
    expect(refused({ WEBAUTHN_ORIGINS: 'not a url' })).toContain('WEBAUTHN_ORIGINS');
  });
});

describe('the test CBOR encoder', () => {
  it('encodes the examples of RFC 8949 appendix A', () => {
    const hex = (value: Parameters<typeof cbor>[0]) => cbor(value).toString('hex');
    expect(hex(0)).toBe('00');
    expect(hex(23)).toBe('17');
    expect(hex(24)).toBe('1818');
    expect(hex(1000)).toBe('1903e8');
    expect(hex(1000000)).toBe('1a000f4240');
    expect(hex(-1)).toBe('20');
    expect(hex(-1000)).toBe('3903e7');
    expect(hex(new Uint8Array([1, 2, 3, 4]))).toBe('4401020304');
    expect(hex('IETF')).toBe('6449455446');
    expect(hex([1, [2, 3], [4, 5]])).toBe('8301820203820405');
    expect(
      hex(
        new Map([
          [1, 2],
          [3, 4],
        ]),
      ),
    ).toBe('a201020304');
    expect(hex({ a: 1, b: [2, 3] })).toBe('a26161016162820203');
  });
});
