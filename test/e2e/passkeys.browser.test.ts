import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';

// Passkeys end to end (issue 16): headless Chromium with the DevTools virtual authenticator (a
// platform authenticator with resident keys and user verification) on a tiny page served here at
// http://localhost:<port>. The page imports @simplewebauthn/browser's ES module from node_modules
// and calls the real GraphQL API, which this server proxies on the same origin, as the README
// shows: register a passkey, then sign in with it, with and without an email.

/** The directory of @simplewebauthn/browser's ES modules (index.js and what it imports). */
const WEBAUTHN_ESM = dirname(fileURLToPath(import.meta.resolve('@simplewebauthn/browser')));

const PAGE = `<!doctype html><html><head><title>Passkeys</title></head><body>
<script type="module">
import { startAuthentication, startRegistration } from '/webauthn/index.js';

async function gql(query, variables, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors[0].extensions.code + ': ' + body.errors[0].message);
  return body.data;
}

window.registerPasskey = async (token, name) => {
  const { startPasskeyRegistration: ceremony } = await gql('mutation { startPasskeyRegistration { challengeId options } }', {}, token);
  const response = await startRegistration({ optionsJSON: JSON.parse(ceremony.options) });
  const finished = await gql(
    'mutation($input: FinishPasskeyRegistrationInput!) { finishPasskeyRegistration(input: $input) { id name } }',
    { input: { challengeId: ceremony.challengeId, response: JSON.stringify(response), name } },
    token,
  );
  return finished.finishPasskeyRegistration;
};

window.signInWithPasskey = async (email) => {
  const { startPasskeySignIn: ceremony } = await gql(
    'mutation($input: StartPasskeySignInInput) { startPasskeySignIn(input: $input) { challengeId options } }', { input: { email } });
  const response = await startAuthentication({ optionsJSON: JSON.parse(ceremony.options) });
  const signedIn = await gql(
    'mutation($input: LoginWithPasskeyInput!) { loginWithPasskey(input: $input) { token user { id email } session { id method } } }',
    { input: { challengeId: ceremony.challengeId, response: JSON.stringify(response) } },
  );
  return signedIn.loginWithPasskey;
};
window.ready = true;
</script></body></html>`;

let t: TestApp;
let pages: Server;
let pageUrl: string;
let browser: Browser;
let page: Page;
let cdp: CDPSession;
let authenticatorId: string;

/** The page, the library's module files, and /graphql passed through to the app. */
function servePages(apiUrl: () => string): Server {
  return createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    if (path.startsWith('/webauthn/')) {
      const file = normalize(join(WEBAUTHN_ESM, path.slice('/webauthn/'.length)));
      if (!file.startsWith(`${WEBAUTHN_ESM}/`) || !file.endsWith('.js')) return void res.writeHead(404).end();
      const body = await readFile(file).catch(() => null);
      return void (body ? res.writeHead(200, { 'content-type': 'text/javascript' }).end(body) : res.writeHead(404).end());
    }
    if (path === '/graphql' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers: Record<string, string> = { 'content-type': String(req.headers['content-type']) };
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      const upstream = await fetch(`${apiUrl()}/graphql`, { method: 'POST', headers, body: Buffer.concat(chunks) });
      return void res
        .writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' })
        .end(Buffer.from(await upstream.arrayBuffer()));
    }
    res.writeHead(404).end();
  });
}

beforeAll(async () => {
  pages = servePages(() => t.url);
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  const port = (pages.address() as { port: number }).port;
  pageUrl = `http://localhost:${port}`;
  t = await startTestApp({ env: { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: pageUrl } });
  browser = await launchChromium();
  page = await browser.newPage();
  cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  }));
  await page.goto(pageUrl);
  await page.waitForFunction(() => (window as any).ready === true);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => pages?.close(resolve));
  await t?.close();
});

it('registers a passkey in Chromium through the real API and signs in with it, without and with an email', async () => {
  const { token, userId } = await t.register('browser@example.com');
  const passkey = await page.evaluate(([token]) => (window as any).registerPasskey(token, 'Chromium'), [token]);
  expect(passkey).toEqual({ id: expect.any(String), name: 'Chromium' });
  // The browser made a discoverable credential (resident key preferred) for this RP.
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  expect(credentials).toEqual([expect.objectContaining({ isResidentCredential: true, rpId: 'localhost' })]);

  for (const email of [undefined, 'browser@example.com']) {
    const signedIn = await page.evaluate(([email]) => (window as any).signInWithPasskey(email), [email]);
    expect(signedIn.user).toEqual({ id: userId, email: 'browser@example.com' });
    expect(signedIn.session.method).toBe('PASSKEY');
    t.rememberSecret(signedIn.token);
    const me = await t.gql(`{ me { email } }`, undefined, { token: signedIn.token });
    expect(me.body.data.me.email).toBe('browser@example.com');
    const [session] = await t.db.query(`SELECT "secondFactor", "secondFactorPending" FROM "Session" WHERE id = $1`, [signedIn.session.id]);
    expect(session).toEqual({ secondFactor: 'PASSKEY', secondFactorPending: false });
  }
  // The counter the authenticator keeps is the one stored.
  const [after] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  const [row] = await t.db.query(`SELECT counter::int AS counter, "lastUsedAt" IS NOT NULL AS used FROM "Passkey" WHERE id = $1`, [passkey.id]);
  expect(row).toEqual({ counter: after!.signCount, used: true });
  expect(row.counter).toBeGreaterThanOrEqual(2);
}, 60_000);
