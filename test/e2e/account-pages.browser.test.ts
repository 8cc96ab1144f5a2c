import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickMailButton, screenshot, startPagesStand, waitForMail, type PagesStand } from '../helpers/account-pages.ts';

// A newcomer's day one, in headless Chromium against `node src/main.ts` on a non-default PORT with
// no FRONTEND_URL: every mailed link is finished by a click in the dev outbox, on the pages the
// service serves itself, and a session revoked from one browser signs the other out live.

let stand: PagesStand;
beforeAll(async () => {
  stand = await startPagesStand();
}, 90_000);
afterAll(() => stand?.close());

const contexts: BrowserContext[] = [];
async function newPage(): Promise<Page> {
  const context = await stand.browser.newContext({ viewport: { width: 820, height: 720 } });
  contexts.push(context);
  const page = await context.newPage();
  // A failing script, or a CSP refusal, fails the test instead of leaving a page that looks fine.
  page.on('pageerror', (error) => expect.fail(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused/.test(message.text())) expect.fail(message.text());
  });
  return page;
}
afterAll(async () => {
  for (const context of contexts) await context.close();
});

/** Waits for a condition in the page (the pages answer in milliseconds; a loaded machine may take seconds). */
const poll = <T>(probe: () => Promise<T> | T) => expect.poll(probe, { timeout: 15_000 });

/** The account page's WebSocket subscription is in place (and the list read after it). */
const live = (page: Page) => page.locator('body[data-live="true"]').waitFor();

async function signInPage(page: Page, email: string): Promise<void> {
  await page.goto(`${stand.url}/`);
  await page.waitForURL('**/auth/sign-in');
  await page.getByLabel('Email', { exact: true }).fill(email);
}

async function expectAccountOf(page: Page, email: string): Promise<void> {
  await page.waitForURL('**/account', { timeout: 10_000 }).catch(async (error) => {
    throw new Error(`not on the account page (${page.url()}): ${await page.locator('#message').textContent()}`, { cause: error });
  });
  await poll(() => page.locator('#email').textContent()).toBe(email);
  await page.locator('#sessions li').first().waitFor();
}

// Each test goes through several pages and mails; on a loaded two-core machine that takes a while.
const slow = { timeout: 90_000 };

/** A new browser that signs in (or creates the account) with a password on the sign-in page, on its account page. */
async function withPassword(email: string, password: string, button: 'Sign in' | 'Create account' = 'Sign in'): Promise<Page> {
  const page = await newPage();
  await signInPage(page, email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: button, exact: true }).click();
  await expectAccountOf(page, email);
  return page;
}

describe("mailed links finished by a click, on the service's own pages", slow, () => {
  it('magic link: sign-in page -> dev outbox -> click -> signed in on the account page', async () => {
    const page = await newPage();
    const email = 'ada@example.com';
    await signInPage(page, email);
    await screenshot(page, 'sign-in');
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await poll(() => page.locator('#message').textContent()).toContain('Check your inbox');

    await waitForMail(stand.url, email, 'magic-link');
    await clickMailButton(page, stand.url, email, 'Sign in');
    await expectAccountOf(page, email);
    // The secret left the address bar and the history once used.
    expect(page.url()).toBe(`${stand.url}/account`);
    await poll(() => page.locator('#sessions li .current').textContent()).toBe('This device');
  });

  it('email code: typed on the sign-in page, and as the mailed link', async () => {
    const page = await newPage();
    const email = 'grace@example.com';
    await signInPage(page, email);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByLabel('6-digit code').waitFor();
    const mail = await waitForMail(stand.url, email, 'email-code');
    const code = /\b(\d{6})\b/.exec(mail.text)![1]!;
    await page.getByLabel('6-digit code').fill(code);
    await page.locator('#code-form').getByRole('button', { name: 'Sign in' }).click();
    await expectAccountOf(page, email);

    const other = await newPage();
    const second = 'linus@example.com';
    await signInPage(other, second);
    await other.getByRole('button', { name: 'Email me a code' }).click();
    await waitForMail(stand.url, second, 'email-code');
    await clickMailButton(other, stand.url, second, 'Sign in');
    await expectAccountOf(other, second);
  });

  it('email verification and password reset, from an account created on the sign-in page', async () => {
    const page = await newPage();
    const email = 'barbara@example.com';
    await signInPage(page, email);
    await page.getByLabel(/^Password/).fill('first password 1');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectAccountOf(page, email);
    await poll(() => page.locator('#verify').isVisible()).toBe(true);

    // The registration mailed a confirmation link; the same tab holds the session it needs.
    await waitForMail(stand.url, email, 'email-verification');
    await clickMailButton(page, stand.url, email, 'Confirm');
    await poll(() => page.locator('#message').textContent()).toBe('Your email address is confirmed.');
    expect(page.url()).toBe(`${stand.url}/auth/verify-email`);
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await expectAccountOf(page, email);
    expect(await page.locator('#verify').isVisible()).toBe(false);

    // Forgotten password: requested on the sign-in page of a fresh browser, chosen on the mailed link.
    const fresh = await newPage();
    await signInPage(fresh, email);
    await fresh.getByRole('button', { name: 'Forgot your password?' }).click();
    await poll(() => fresh.locator('#message').textContent()).toContain('Check your inbox');
    await waitForMail(stand.url, email, 'password-reset');
    await clickMailButton(fresh, stand.url, email, 'Choose a new password');
    await fresh.waitForURL('**/auth/reset-password');
    await fresh.getByLabel(/^New password/).fill('second password 2');
    await fresh.getByRole('button', { name: 'Set the new password' }).click();
    await poll(() => fresh.locator('#message').textContent()).toContain('Your password is changed');

    // The reset signed the first browser out; the new password signs in.
    await fresh.getByRole('link', { name: 'Go to sign-in' }).click();
    await fresh.getByLabel('Email', { exact: true }).fill(email);
    await fresh.getByLabel(/^Password/).fill('second password 2');
    await fresh.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectAccountOf(fresh, email);
  });
});

describe('a verification link opened where no one is signed in', slow, () => {
  it('asks to sign in first, then comes back to the link and confirms the address', async () => {
    const email = 'dorothy@example.com';
    await withPassword(email, 'crystal lattice 1964', 'Create account');
    await waitForMail(stand.url, email, 'email-verification');

    // Another browser (the mail opened on another device): no session there yet.
    const other = await newPage();
    await clickMailButton(other, stand.url, email, 'Confirm');
    await other.waitForURL('**/auth/sign-in?continue=verify-email');
    await poll(() => other.locator('#message').textContent()).toBe('Sign in to confirm your email address.');
    await other.getByLabel('Email', { exact: true }).fill(email);
    await other.getByLabel(/^Password/).fill('crystal lattice 1964');
    await other.getByRole('button', { name: 'Sign in', exact: true }).click();
    await other.waitForURL('**/auth/verify-email');
    await poll(() => other.locator('#message').textContent()).toBe('Your email address is confirmed.');
  });
});

describe('sessions, live', slow, () => {
  it('a session revoked from the first browser is signed out at once in the second, whose row leaves the list', async () => {
    const email = 'katherine@example.com';
    const first = await withPassword(email, 'orbit maths 1962', 'Create account');

    const second = await withPassword(email, 'orbit maths 1962');

    await first.reload();
    await Promise.all([live(first), live(second)]);
    await poll(() => first.locator('#sessions li').count()).toBe(2);
    await screenshot(first, 'account-two-sessions');
    await first
      .locator('#sessions li', { hasNot: first.locator('.current') })
      .getByRole('button', { name: 'Revoke' })
      .click();

    // No reload, no polling by the page: the WebSocket brings the revocation.
    await second.waitForURL('**/auth/sign-in?signed_out=revoked');
    await poll(() => second.locator('#message').textContent()).toContain('revoked from another device');
    expect(await second.evaluate(() => sessionStorage.getItem('portcullis.session'))).toBeNull();
    await screenshot(second, 'signed-out-live');
    await poll(() => first.locator('#sessions li').count()).toBe(1);

    // A third browser signs in and out by itself: the first browser's list follows without a reload.
    const third = await withPassword(email, 'orbit maths 1962');
    await first.reload();
    await live(first);
    await poll(() => first.locator('#sessions li').count()).toBe(2);
    await third.getByRole('button', { name: 'Sign out', exact: true }).click();
    await third.waitForURL('**/auth/sign-in?signed_out=logout');
    await poll(() => first.locator('#sessions li').count()).toBe(1);
  });
});
