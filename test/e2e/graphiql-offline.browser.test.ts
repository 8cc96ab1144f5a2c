import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GRAPHIQL_DEFAULT_DOCUMENT } from '../../src/http/use-graphiql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { screenshot } from '../helpers/account-pages.ts';

// GraphiQL comes from our own dependencies: with every request that is not to the service cut
// off, the page renders, loads its workers, and shows the README's first operation.

let t: TestApp;
let browser: Browser;
beforeAll(async () => {
  t = await startTestApp();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

it("the default document is the README's first operation", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const first = /```graphql\n([\s\S]*?)```/.exec(readme)![1];
  expect(GRAPHIQL_DEFAULT_DOCUMENT).toBe(first);
});

it('renders and runs the first operation offline, from files of the service, under a CSP of self only (inline styles aside)', { timeout: 60_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
  const page = await context.newPage();
  const blocked: string[] = [];
  const served: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${t.url}/`)) {
      served.push(new URL(url).pathname);
      return route.continue();
    }
    blocked.push(url);
    return route.abort('internetdisconnected');
  });
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) violations.push(message.text());
  });
  page.on('pageerror', (error) => violations.push(error.message));

  const response = await page.goto(`${t.url}/graphql`);
  const csp = response!.headers()['content-security-policy']!;
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self';");
  // No other origin anywhere; inline only for styles (Monaco places its lines with style attributes).
  for (const directive of csp.split(';')) expect(directive).not.toMatch(/https?:|data:|blob:|\*|unsafe-eval/);
  expect(csp.split(';').filter((d) => d.includes('unsafe'))).toEqual([" style-src 'self' 'unsafe-inline'"]);

  // The editor shows our document (Monaco renders each line in .view-lines, with no-break spaces).
  const editor = page.locator('.graphiql-query-editor .view-lines');
  const shown = async () => (await editor.textContent())?.replace(/\s+/g, ' ');
  await expect.poll(shown, { timeout: 30_000 }).toContain('register(input: { email: "ada@example.com", password: "correct horse battery"');
  // It runs: the README's first step registers Ada, through the service only.
  await page.getByRole('button', { name: /Execute query/i }).click();
  const result = page.locator('.graphiql-response .view-lines');
  await expect.poll(async () => (await result.textContent())?.replace(/\s+/g, ' '), { timeout: 15_000 }).toContain('"email": "ada@example.com"');
  await screenshot(page, 'graphiql');

  expect(blocked).toEqual([]);
  expect(violations).toEqual([]);
  expect(served.some((path) => /^\/graphiql\/[^/]+\/graphiql\.js$/.test(path))).toBe(true);
  await context.close();
});

it('serves the GraphiQL files with long-lived caching, gzip, and 404 for anything else', async () => {
  const html = await (await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } })).text();
  expect(html).not.toMatch(/<script>|unpkg|jsdelivr|cdn/i);
  const script = /src="(\/graphiql\/[^"]+\/graphiql\.js)"/.exec(html)![1]!;
  const response = await fetch(`${t.url}${script}`, { headers: { 'accept-encoding': 'gzip' } });
  expect(response.status).toBe(200);
  expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect(response.headers.get('content-type')).toMatch(/^text\/javascript/);
  const again = await fetch(`${t.url}${script}`, { headers: { 'if-none-match': response.headers.get('etag')! } });
  expect(again.status).toBe(304);
  expect((await fetch(`${t.url}/graphiql/0.0.0/graphiql.js`)).status).toBe(404);
  expect((await fetch(`${t.url}${script.replace('graphiql.js', '..%2Fpackage.json')}`)).status).toBe(404);
});
