import { describe, expect, it } from 'vitest';
import { checkRedirectTo, withOAuthParam } from '../../src/modules/auth/strategies/oauth/redirect-target.ts';

// Where the OAuth callback may send the browser (src/modules/auth/strategies/oauth/redirect-target.ts),
// without a server: the end-to-end path is in test/security/oauth.test.ts.

const allowed = ['https://app.example.com/app', 'http://localhost:5173/'];
const refusal = { code: 'BAD_USER_INPUT', message: 'redirectTo must be a URL under FRONTEND_URL or ALLOWED_REDIRECTS' };

describe('checkRedirectTo', () => {
  it.each(['https://app.example.com/app', 'https://app.example.com/app/', 'https://app.example.com/app/settings?tab=1#top', 'http://localhost:5173/anything'])(
    'accepts %s',
    (raw) => {
      expect(checkRedirectTo(raw, allowed).href).toBe(new URL(raw).href);
    },
  );

  it.each([
    ['a sibling path that only starts alike', 'https://app.example.com/application'],
    ['a path outside the base', 'https://app.example.com/admin'],
    ['another host', 'https://evil.example/app'],
    ['a host that ends alike', 'https://app.example.com.evil.example/app'],
    ['another port', 'https://app.example.com:8443/app'],
    ['another scheme', 'http://app.example.com/app'],
    ['credentials in the URL', 'https://user:pass@app.example.com/app'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a protocol-relative URL', '//evil.example/app'],
    ['a bare path', '/app'],
    ['not a URL', 'not a url'],
    ['a URL over 2048 characters', `https://app.example.com/app/${'a'.repeat(2048)}`],
  ])('refuses %s', (_, raw) => {
    expect(() => checkRedirectTo(raw, allowed)).toThrow(expect.objectContaining(refusal));
  });

  it('refuses everything when nothing is allowed', () => {
    expect(() => checkRedirectTo('https://app.example.com/app', [])).toThrow(expect.objectContaining(refusal));
  });
});

describe('withOAuthParam', () => {
  it('sets the parameter, keeps the others and drops an earlier oauth_* parameter', () => {
    const url = 'https://app.example.com/app?tab=1&oauth_error=access_denied&oauth_code=old';
    const href = withOAuthParam(url, 'oauth_code', 'new code');
    const params = new URL(href).searchParams;
    expect(params.get('tab')).toBe('1');
    expect(params.get('oauth_code')).toBe('new code');
    expect(params.has('oauth_error')).toBe(false);
  });
});
