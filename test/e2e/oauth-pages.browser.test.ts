import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { relaxedRateLimits, startTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { freePort, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';

// The sign-in page's OAuth buttons: one per configured provider (oauthProviders), PKCE verifier
// kept in the tab, the provider's pages, our callback, /auth/oauth completes, the account opens.

let t: TestApp;
let corp: TestOidcProvider;
let browser: Browser;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://localhost:${port}`;
  // PORT alone: PUBLIC_URL, FRONTEND_URL and the redirect URI follow it.
  corp = await startOidcProvider({ redirectUri: `${base}/oauth/callback`, accounts: { alice: { email: 'alice@example.com', email_verified: true } } });
  t = await startTestApp({
    port,
    env: { PORT: String(port), OAUTH_PROVIDERS: 'corp', OAUTH_CORP_NAME: 'Corp SSO', ...corp.env('corp'), RATE_LIMITS: relaxedRateLimits },
  });
  t.rememberSecret(corp.clientSecret);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await corp?.close();
});

it("signs in with a provider button, through the provider's pages and back to the account page", { timeout: 60_000 }, async () => {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => expect.fail(`page error: ${error.message}`));
  await page.goto(`${base}/auth/sign-in`);
  await page.getByRole('button', { name: 'Corp SSO' }).click();

  // oidc-provider's development pages: sign in as "alice", then consent.
  await page.waitForURL((url) => url.href.startsWith(corp.issuer));
  await page.locator('input[name="login"]').fill('alice');
  await page.locator('input[name="password"]').fill('any');
  await page.locator('button[type="submit"]').click();
  await page.locator('button[type="submit"]').click();

  await page.waitForURL('**/account', { timeout: 15_000 });
  await expect.poll(() => page.locator('#email').textContent(), { timeout: 15_000 }).toBe('alice@example.com');
  await expect.poll(() => page.locator('#sessions li .details').textContent(), { timeout: 15_000 }).toContain('Signed in by OAuth');
  // The verifier was used once and dropped.
  expect(await page.evaluate(() => sessionStorage.getItem('portcullis.oauth.codeVerifier'))).toBeNull();
});

it('an OAuth error brought back by the callback is shown on the sign-in page', { timeout: 30_000 }, async () => {
  const page = await (await browser.newContext()).newPage();
  // An unknown state: the callback sends the browser to FRONTEND_URL with oauth_error.
  await page.goto(`${base}/oauth/callback?code=x&state=unknown`);
  await page.waitForURL('**/auth/sign-in?oauth_error=*');
  await expect.poll(() => page.locator('#message').textContent(), { timeout: 15_000 }).toContain('did not work');
});
