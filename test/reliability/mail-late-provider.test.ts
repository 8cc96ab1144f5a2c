import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { MINUTE } from '../helpers/clock.ts';
import { startSlowProvider, type SlowProvider } from '../../scripts/slow-provider.ts';

// Issue 21: a provider that accepts a mail at once but answers after the client gave up (10 s then)
// got the mail twice: the timeout was taken for a failure and the job retried. The client now waits
// longer than the provider, and every mail carries its id (custom_args.mailId). A retry that comes
// after the life of the secret the mail would carry sends nothing at all.

let t: TestApp;
let provider: SlowProvider;
const ANSWER_AFTER_MS = 11_000;

beforeAll(async () => {
  provider = await startSlowProvider({ answerAfterMs: ANSWER_AFTER_MS });
  t = await startTestApp({ env: { SENDGRID_API_KEY: 'SG.test-key', SENDGRID_API_URL: provider.url } });
});
afterAll(async () => {
  await t?.close();
  await provider?.close();
});

const mailRows = () => t.db.query<{ id: string; status: string; attempts: number }>(`SELECT id, status, attempts FROM "Mail"`);

it('sends nothing for a mail whose magic link would have expired before it arrived', async () => {
  const requestedAt = new Date(Date.now() - t.config.tokens.magicLinkTtlMs - MINUTE).toISOString();
  const started = Date.now();
  await t.app.services.mail.deliver({ mailId: randomUUID(), template: 'magic-link', email: 'late@example.com', requestedAt });
  expect(Date.now() - started).toBeLessThan(ANSWER_AFTER_MS); // it never called the provider
  expect(provider.received).toBe(0);
  expect(await mailRows()).toEqual([]);
  expect(await t.db.query(`SELECT id FROM "OneTimeToken" WHERE email = 'late@example.com'`)).toEqual([]); // no secret issued
  expect(t.logs.some((l) => l.includes('mail dropped: its secret would have expired'))).toBe(true);
});

it('delivers once to a provider that accepts at once and answers after 11 s, carrying the mail id', { timeout: 40_000 }, async () => {
  expect((await t.gql(`mutation { requestMagicLink(input: { email: "slow@example.com" }) }`)).body.data.requestMagicLink).toBe(true);
  const deadline = Date.now() + 25_000;
  while ((await mailRows())[0]?.status !== 'SENT' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const [row] = await mailRows();
  expect(row).toMatchObject({ status: 'SENT', attempts: 1 });
  await new Promise((r) => setTimeout(r, 1000)); // no retry follows
  expect(provider.received).toBe(1);
  expect(provider.accepted).toEqual([row!.id]);
});
