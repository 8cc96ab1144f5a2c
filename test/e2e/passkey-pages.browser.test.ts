import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { freePort } from '../../scripts/free-port.ts';

// The sign-in page's passkey button (shown because the API has startPasskeySignIn and
// loginWithPasskey), with Chromium's virtual authenticator: a passkey made for the account, then
// "Sign in with a passkey" with no password and no email, straight to the account page.

let t: TestApp;
let browser: Browser;
let page: Page;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://localhost:${port}`;
  // PORT alone: FRONTEND_URL, and so the relying party (localhost) and the allowed origin, follow it.
  t = await startTestApp({ port, env: { PORT: String(port) } });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (error) => expect.fail(`page error: ${error.message}`));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** Makes a passkey for the account in this browser, as a page of the service's origin would. */
async function registerPasskey(token: string): Promise<void> {
  await page.goto(`${base}/auth/sign-in`);
  const created = await page.evaluate(async (token) => {
    const call = async (query: string, variables = {}) => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()).data;
    };
    const { startPasskeyRegistration: challenge } = await call('mutation { startPasskeyRegistration { challengeId options } }');
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(JSON.parse(challenge.options));
    const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential;
    const input = { challengeId: challenge.challengeId, response: JSON.stringify(credential.toJSON()), name: 'Chromium' };
    return call('mutation($input: FinishPasskeyRegistrationInput!) { finishPasskeyRegistration(input: $input) { name } }', { input });
  }, token);
  expect(created.finishPasskeyRegistration.name).toBe('Chromium');
}

it('signs in with the passkey button, without a password or an email', { timeout: 60_000 }, async () => {
  const email = 'annie@example.com';
  const { token } = await t.register(email);
  await registerPasskey(token);

  await page.goto(`${base}/auth/sign-in`);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL('**/account', { timeout: 15_000 });
  await expect.poll(() => page.locator('#email').textContent(), { timeout: 15_000 }).toBe(email);
  // This device's session is the passkey one (the other is the registration's).
  await expect.poll(() => page.locator('#sessions li:has(.current) .details').textContent(), { timeout: 15_000 }).toContain('Signed in by passkey');
});
