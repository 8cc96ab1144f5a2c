import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { freePort } from '../../scripts/free-port.ts';
import { startServiceProcess, type ServiceProcess } from '../../scripts/service-process.ts';
import { eventually } from './eventually.ts';

// A fresh `npm start`-like service (node src/main.ts on a non-default PORT, its own database, no
// FRONTEND_URL, so the account pages and the dev outbox are on) and a headless Chromium, for the
// e2e tests that go through the pages as a user would.

/** Every run saves its screenshots here (test artifacts, not committed). */
const ARTIFACTS = new URL('../e2e/artifacts/', import.meta.url).pathname;
/** The README's copies, refreshed only on purpose: UPDATE_SCREENSHOTS=1. */
const README_SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname;

export interface PagesStand {
  url: string;
  service: ServiceProcess;
  browser: Browser;
  db: TestDatabase;
  close(): Promise<void>;
}

export async function startPagesStand(env: Record<string, string> = {}): Promise<PagesStand> {
  const db = await createTestDatabase({ migrate: false });
  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-pages-'));
  const port = await freePort();
  const service = startServiceProcess({ PORT: String(port), DATABASE_URL: db.url, DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env });
  // The URL the service derives from PORT: the account pages, the mailed links and the WebSocket origin.
  const url = `http://localhost:${port}`;
  await eventually(async () => (await fetch(`${url}/ready`).catch(() => null))?.ok, 'the service to be ready', 60_000);
  const browser = await launchChromium();
  return {
    url,
    service,
    browser,
    db,
    async close() {
      await browser.close();
      await service.stop('SIGTERM');
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

interface OutboxMail {
  to: string;
  subject: string;
  template: string;
  text: string;
}

/** Waits until the dev outbox holds `count` mails of `template` for `to` (the worker sends them in the background). */
export async function waitForMail(url: string, to: string, template: string, count = 1): Promise<OutboxMail> {
  return eventually(
    async () => {
      const response = await fetch(`${url}/dev/outbox`, { headers: { accept: 'application/json' } });
      const { mails } = (await response.json()) as { mails: OutboxMail[] };
      const matching = mails.filter((m) => m.to === to && m.template === template);
      return matching.length >= count && matching[0];
    },
    `a ${template} mail to ${to}`,
    20_000,
  );
}

/** Opens the dev outbox in `page` and clicks the button of the newest mail to `to`, as a user would. */
export async function clickMailButton(page: Page, url: string, to: string, button: string): Promise<void> {
  await page.goto(`${url}/dev/outbox`);
  const frame = page
    .locator('article', { hasText: `to ${to}` })
    .first()
    .locator('iframe')
    .contentFrame();
  await frame.getByRole('link', { name: button }).click();
}

/** Saves a screenshot as a test artifact (and as the README's copy with UPDATE_SCREENSHOTS=1). */
export async function screenshot(page: Page, name: string): Promise<void> {
  const image = await page.screenshot({ path: `${ARTIFACTS}${name}.png` });
  if (process.env.UPDATE_SCREENSHOTS === '1') await writeFile(`${README_SCREENSHOTS}${name}.png`, image);
}
