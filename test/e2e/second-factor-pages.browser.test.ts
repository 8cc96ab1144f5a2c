import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { timeStepAt, totpCodeForStep } from '../../src/modules/auth/second-factor/totp.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { freePort } from '../../scripts/free-port.ts';

// The second-factor step of the account pages: a password sign-in of an account with TOTP answers
// secondFactorRequired, the page asks for the code (or a recovery code), completeSecondFactor
// makes the session whole, and the account page opens.

let t: TestApp;
let browser: Browser;
let page: Page;
const email = 'margaret@example.com';
const password = 'apollo guidance 11';
let secret: string;
let recoveryCodes: string[];

const codeAt = (offsetSteps = 0) => {
  const code = totpCodeForStep(secret, timeStepAt(t.clock.now()) + offsetSteps);
  t.rememberSecret(code);
  return code;
};

beforeAll(async () => {
  // PORT set, so PUBLIC_URL and the WebSocket origin are http://localhost:<port>, as the browser sees it.
  const port = await freePort();
  t = await startTestApp({ port, env: { PORT: String(port) } });
  const { token } = await t.register(email, password);
  const started = await t.gql(
    'mutation($input: StartTotpEnrollmentInput) { startTotpEnrollment(input: $input) { secret } }',
    { input: { password } },
    { token },
  );
  secret = started.body.data.startTotpEnrollment.secret;
  t.rememberSecret(secret);
  const confirmed = await t.gql('mutation($code: String!) { confirmTotpEnrollment(input: { code: $code }) { codes } }', { code: codeAt() }, { token });
  recoveryCodes = confirmed.body.data.confirmTotpEnrollment.codes;
  for (const code of recoveryCodes) t.rememberSecret(code);
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => expect.fail(`page error: ${error.message}`));
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const poll = <T>(probe: () => Promise<T> | T) => expect.poll(probe, { timeout: 15_000 });
const base = () => `http://localhost:${new URL(t.url).port}`;

async function signInWithPassword(): Promise<void> {
  await page.goto(`${base()}/auth/sign-in`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/auth/second-factor');
  await poll(() => page.locator('#second-factor-user').textContent()).toBe(`Signing in as ${email}.`);
}

it('asks for the authenticator code after the password, refuses a wrong one, and opens the account with the right one', { timeout: 60_000 }, async () => {
  await signInWithPassword();
  // The enrolment used the current step: move on so the next code is fresh (a step is accepted once).
  t.clock.advance(30_000);
  const right = codeAt();
  const wrong = right === '000000' ? '111111' : '000000';
  await page.getByLabel('Code from your authenticator app').fill(wrong);
  await page.getByRole('button', { name: 'Continue' }).click();
  await poll(() => page.locator('#message').textContent()).toContain('not valid');
  expect(page.url()).toBe(`${base()}/auth/second-factor`);

  await page.getByLabel('Code from your authenticator app').fill(right);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL('**/account');
  await poll(() => page.locator('#email').textContent()).toBe(email);
});

it('takes a recovery code instead, and Cancel signs the pending session out', { timeout: 60_000 }, async () => {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL('**/auth/sign-in?signed_out=logout');

  await signInWithPassword();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.waitForURL('**/auth/sign-in?signed_out=logout');
  expect(await page.evaluate(() => sessionStorage.getItem('portcullis.session'))).toBeNull();

  await signInWithPassword();
  await page.getByLabel('Or a recovery code').fill(recoveryCodes[0]!);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL('**/account');
  await poll(() => page.locator('#email').textContent()).toBe(email);
});
