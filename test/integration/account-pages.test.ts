import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { eventually } from '../helpers/eventually.ts';

// The account pages as HTTP resources (ACCOUNT_PAGES, CSP, caching), the defaults that follow PORT,
// the log lines that explain them, and the dev outbox's links. The pages' behaviour in a browser is
// in test/e2e/account-pages.browser.test.ts.

const EXPECTED_CSP = (host: string) =>
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  `connect-src 'self' ws://${host} wss://${host}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;

const PAGES = ['/auth/sign-in', '/auth/magic-link', '/auth/email-code', '/auth/reset-password', '/auth/verify-email', '/auth/forgot-password', '/account'];

describe('served by default (FRONTEND_URL unset)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('serves every page with a strict CSP and no inline script', async () => {
    for (const path of PAGES) {
      const response = await fetch(`${t.url}${path}?token=abc`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-security-policy')).toBe(EXPECTED_CSP(new URL(t.url).host));
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      const html = await response.text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script is a file
      expect(html).not.toMatch(/\son[a-z]+=/i); // no inline handlers
      expect(html).not.toContain('%SETTINGS%');
    }
  });

  it('redirects / to the account page, which sends a visitor without a session to sign-in', async () => {
    const response = await fetch(`${t.url}/?oauth_error=access_denied`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/account?oauth_error=access_denied');
  });

  it('serves the scripts and styles with revalidation, and nothing else from the folder', async () => {
    const script = await fetch(`${t.url}/account-pages/account.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = script.headers.get('etag')!;
    expect((await fetch(`${t.url}/account-pages/account.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${t.url}/account-pages/pages.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    for (const path of [
      '/account-pages/nope.js',
      '/account-pages/account.html',
      '/account-pages/../use-account-pages.ts',
      '/account-pages/%2e%2e%2fuse-account-pages.ts',
    ]) {
      expect((await fetch(`${t.url}${path}`)).status, path).toBe(404);
    }
  });

  it('tells the pages the session mode and whether the dev outbox is on', async () => {
    const html = await (await fetch(`${t.url}/auth/sign-in`)).text();
    const settings = JSON.parse(/name="portcullis-settings" content="([^"]*)"/.exec(html)![1]!.replace(/&#34;/g, '"'));
    expect(settings).toMatchObject({ sessionMode: 'bearer', devOutbox: true });
    expect(typeof settings.secondFactor).toBe('boolean');
    expect(typeof settings.passkeys).toBe('boolean');
  });

  it('logs the effective URLs once, on one line', () => {
    const lines = t.logs.filter((line) => line.includes('"effective URLs"'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      publicUrl: 'http://localhost:4000',
      frontendUrl: 'http://localhost:4000',
      corsOrigins: ['http://localhost:4000'],
      oauthRedirectUri: 'http://localhost:4000/oauth/callback',
      accountPages: 'http://localhost:4000/',
    });
  });

  it('logs a WebSocket refused for its Origin, at most once a minute per origin', async () => {
    const refused = (origin: string) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(`${t.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', { origin });
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
        socket.on('open', () => reject(new Error('opened')));
        socket.on('error', () => {});
      });
    const logged = (origin: string) => t.logs.filter((l) => l.includes('websocket refused') && l.includes(origin)).length;
    for (let i = 0; i < 3; i++) expect(await refused('http://127.0.0.1:4000')).toBe(403);
    expect(logged('http://127.0.0.1:4000')).toBe(1);
    expect(await refused('https://elsewhere.example')).toBe(403);
    expect(logged('https://elsewhere.example')).toBe(1);
    t.clock.advance(61_000);
    expect(await refused('http://127.0.0.1:4000')).toBe(403);
    expect(logged('http://127.0.0.1:4000')).toBe(2);
    const line = JSON.parse(t.logs.find((l) => l.includes('websocket refused'))!);
    expect(line).toMatchObject({ level: 40, allowed: ['http://localhost:4000'] });
  });

  it('shows mailed links in the dev outbox so that a click opens them in the whole window', async () => {
    await t.gql('mutation { requestMagicLink(input: { email: "outbox@example.com" }) }');
    const html = await eventually(
      async () => {
        const page = await (await fetch(`${t.url}/dev/outbox`)).text();
        return page.includes('outbox@example.com') && page;
      },
      'the mail in the dev outbox',
      15_000,
    );
    const srcdoc = /srcdoc="([^"]*)"/.exec(html)![1]!;
    expect(srcdoc).toContain('&lt;head&gt;&lt;base target=&quot;_top&quot;&gt;&lt;/head&gt;');
    expect(html).toMatch(/sandbox="[^"]*allow-top-navigation-by-user-activation/);
    // The text part's link is a link too, to the account pages of this service.
    expect(html).toMatch(/<pre>[\s\S]*<a href="http:\/\/localhost:4000\/auth\/magic-link\?email=outbox%40example.com&amp;token=[\w-]+">/);
  });
});

describe('ACCOUNT_PAGES', () => {
  it('false turns the pages off: 404 on the link paths, the assets and /', async () => {
    const t = await startTestApp({ env: { ACCOUNT_PAGES: 'false' } });
    try {
      for (const path of ['/auth/magic-link?token=x', '/auth/sign-in', '/account', '/account-pages/api.js', '/']) {
        expect((await fetch(`${t.url}${path}`, { redirect: 'manual' })).status, path).toBe(404);
      }
      expect((await t.gql('{ me { id } }')).body.data).toEqual({ me: null });
    } finally {
      await t.close();
    }
  });

  it('is off by default when FRONTEND_URL is set (pages live elsewhere), and on when asked', () => {
    expect(loadConfig({}).accountPages).toBe(true);
    expect(loadConfig({ FRONTEND_URL: 'https://app.example.com' }).accountPages).toBe(false);
    expect(loadConfig({ FRONTEND_URL: 'https://app.example.com', ACCOUNT_PAGES: 'true' }).accountPages).toBe(true);
    expect(loadConfig({ ACCOUNT_PAGES: 'false' }).accountPages).toBe(false);
  });
});

describe('defaults that follow PORT', () => {
  it('PUBLIC_URL, FRONTEND_URL, CORS origins, the OAuth redirect URI base and the dev outbox', () => {
    const config = loadConfig({ PORT: '4123' });
    expect(config).toMatchObject({
      publicUrl: 'http://localhost:4123',
      frontendUrl: 'http://localhost:4123',
      corsOrigins: ['http://localhost:4123'],
      devOutbox: true,
    });
  });

  it('an explicit PUBLIC_URL or FRONTEND_URL wins, each on its own', () => {
    const config = loadConfig({ PORT: '4123', PUBLIC_URL: 'https://auth.example.com/', FRONTEND_URL: '' });
    expect(config).toMatchObject({ publicUrl: 'https://auth.example.com', frontendUrl: 'http://localhost:4123', devOutbox: false });
    expect(() => loadConfig({ FRONTEND_URL: 'ftp://x' })).toThrow(/FRONTEND_URL/);
  });
});
