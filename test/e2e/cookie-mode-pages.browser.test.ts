import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { FakeClock } from '../helpers/clock.ts';
import { freePort } from '../../scripts/free-port.ts';

// SESSION_COOKIE=true: the account pages keep no token in script reach (the HttpOnly cookie carries
// the session, the CSRF header goes with every call), and live revocation still signs a tab out.

let t: TestApp;
let browser: Browser;
beforeAll(async () => {
  const port = await freePort();
  // The browser drops a cookie whose Expires is past by its own clock: start the fake clock at now.
  t = await startTestApp({ port, env: { PORT: String(port), SESSION_COOKIE: 'true' }, clock: new FakeClock(Date.now()) });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const poll = <T>(probe: () => Promise<T> | T) => expect.poll(probe, { timeout: 15_000 });

it('signs in with the cookie only, and a revocation from elsewhere signs the tab out live', { timeout: 60_000 }, async () => {
  const email = 'hedy@example.com';
  const password = 'frequency hopping';
  const { token } = await t.register(email, password);
  const base = `http://localhost:${new URL(t.url).port}`;
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => expect.fail(`page error: ${error.message}`));

  // A visitor without a cookie lands on sign-in, with no "session ended" message.
  await page.goto(`${base}/`);
  await page.waitForURL('**/auth/sign-in');
  expect(await page.locator('#message').isHidden()).toBe(true);

  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/account');
  await poll(() => page.locator('#email').textContent()).toBe(email);
  await page.locator('body[data-live="true"]').waitFor();

  expect(await page.evaluate(() => sessionStorage.getItem('portcullis.session'))).toBeNull();
  const cookies = await context.cookies();
  expect(cookies.find((c) => c.name === 'portcullis_session')).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

  // Revoked by the other session (the API client that registered): the tab follows at once.
  const sessions = await t.gql('{ mySessions { id current } }', {}, { token });
  const browserSession = sessions.body.data.mySessions.find((s: { current: boolean }) => !s.current);
  expect((await t.gql('mutation($id: ID!) { revokeSession(id: $id) }', { id: browserSession.id }, { token })).body.data.revokeSession).toBe(true);
  await page.waitForURL('**/auth/sign-in?signed_out=revoked');
  await poll(() => page.locator('#message').textContent()).toContain('revoked from another device');
});
