import { describe, expect, it } from 'vitest';
import {
  encodedUserHandleOf,
  parseAuthenticationResponse,
  parseRegistrationResponse,
  userHandleOf,
} from '../../src/modules/auth/strategies/passkey/passkey-responses.ts';

// What the browser sends back is read defensively before any verification: a text that is not the
// JSON of a PublicKeyCredential is BAD_USER_INPUT, never a crash; the user handle is the UUID's bytes.

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'accepted';
};

describe('passkey responses', () => {
  it('accept the JSON of a credential and refuse anything else with BAD_USER_INPUT', () => {
    const credential = { id: 'abc', rawId: 'abc', type: 'public-key', response: { clientDataJSON: 'x' } };
    expect(parseAuthenticationResponse(JSON.stringify(credential))).toEqual(credential);
    expect(parseRegistrationResponse(JSON.stringify(credential)).id).toBe('abc');
    for (const text of [
      '',
      '{',
      'null',
      '[]',
      '"abc"',
      '{}',
      '{"id":"abc"}',
      '{"id":"","response":{}}',
      '{"id":1,"response":{}}',
      '{"id":"abc","response":null}',
      `{"id":"${'a'.repeat(70_000)}","response":{}}`,
    ]) {
      expect(
        codeOf(() => parseAuthenticationResponse(text)),
        text.slice(0, 40),
      ).toBe('BAD_USER_INPUT');
    }
  });

  it('make the user handle from the 16 bytes of the account id, never from the email', () => {
    const id = '0190f4e2-7c1a-7b3e-9f00-123456789abc';
    expect(Buffer.from(userHandleOf(id)).toString('hex')).toBe('0190f4e27c1a7b3e9f00123456789abc');
    expect(encodedUserHandleOf(id)).toBe(Buffer.from('0190f4e27c1a7b3e9f00123456789abc', 'hex').toString('base64url'));
  });
});
