import { chromium, type Browser } from 'playwright-core';

// Debian's Chromium driven by playwright-core (never a browser download). The flags keep it off the
// network on its own (no updates, sync or field trials) and working as root in a container.

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
