import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/env.ts';
import { startTestApp, type TestApp, TEST_ENCRYPTION_KEY } from '../helpers/app.ts';
import { fastQueue, mailJobs, REQUEST_MAGIC_LINK, settledMailJobs } from '../helpers/passwordless.ts';
import { magicLinkTokenIn } from '../helpers/sendgrid-fake.ts';
import { eventually } from '../helpers/eventually.ts';

// The dev outbox (GET /dev/outbox) shows every mail, magic links included, to whoever reaches it.
// It is on outside production only while PUBLIC_URL is a loopback URL (a developer's machine) or
// DEV_OUTBOX=true says so; a staging host reachable by others must not hand out sign-in links.
// Off and without SendGrid, mail fails loudly, as in production.

const PUBLIC = 'https://auth.example.com';
const OFF_LINE = 'Neither SENDGRID_API_KEY nor SMTP_URL is set';
/** Fast retries, and a single try so a failing mail settles at once. */
const oneTry = (config: Config): Config => ({ ...fastQueue(config), queue: { ...fastQueue(config).queue, retryLimit: 0 } });

const apps: TestApp[] = [];
async function app(env: Record<string, string>): Promise<TestApp> {
  const started = await startTestApp({ env, configure: oneTry });
  apps.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const outbox = (t: TestApp, accept = 'application/json') => fetch(`${t.url}/dev/outbox`, { headers: { accept } });
const outboxRows = async (t: TestApp, email: string) =>
  t.db.query('SELECT template FROM "DevOutboxMail" WHERE "to" = $1 AND template = $2', [email, 'magic-link']);
const startLines = (t: TestApp) => t.logs.filter((line) => line.includes(OFF_LINE));

/** Requests a magic link for a fresh account; the answer never tells whether mail can be sent. */
async function requestLink(t: TestApp, email: string) {
  await t.register(email);
  expect((await t.gql(REQUEST_MAGIC_LINK, { email })).body).toEqual({ data: { requestMagicLink: true } });
}

describe('GET /dev/outbox by default', () => {
  it('is on for the loopback default PUBLIC_URL: the mail is stored and listed', async () => {
    const t = await app({});
    const email = 'loopback@example.com';
    await requestLink(t, email);
    const mail = await eventually(
      async () => {
        const response = await outbox(t);
        expect(response.status).toBe(200);
        const { mails } = (await response.json()) as { mails: Array<{ to: string; template: string; text: string }> };
        return mails.find((m) => m.to === email && m.template === 'magic-link');
      },
      'the mail in the dev outbox',
      15_000,
    );
    t.rememberSecret(magicLinkTokenIn(mail.text));
    expect(await outboxRows(t, email)).toHaveLength(1);
    expect((await outbox(t, 'text/html')).status).toBe(200);
    expect(startLines(t)).toEqual([]);
  });

  it('is 404 for a public PUBLIC_URL without DEV_OUTBOX; mail fails loudly and nothing reaches the outbox', async () => {
    const t = await app({ PUBLIC_URL: PUBLIC });
    expect((await outbox(t)).status).toBe(404);
    expect((await outbox(t, 'text/html')).status).toBe(404);
    const lines = startLines(t);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, msg: expect.stringContaining('DEV_OUTBOX=true') });

    const email = 'public@example.com';
    await requestLink(t, email);
    const jobs = await settledMailJobs(t.db, email, 2);
    expect(jobs.filter((j) => j.template === 'magic-link').map((j) => j.state)).toEqual(['failed']);
    expect(await outboxRows(t, email)).toEqual([]);
    expect((await outbox(t)).status).toBe(404);
  });

  it('is on for a public PUBLIC_URL with DEV_OUTBOX=true', async () => {
    const t = await app({ PUBLIC_URL: PUBLIC, DEV_OUTBOX: 'true' });
    const email = 'opted-in@example.com';
    await requestLink(t, email);
    const rows = await eventually(async () => ((await outboxRows(t, email)).length ? outboxRows(t, email) : undefined), 'the outbox row', 15_000);
    expect(rows).toHaveLength(1);
    const response = await outbox(t);
    expect(response.status).toBe(200);
    const { mails } = (await response.json()) as { mails: Array<{ to: string; template: string; text: string }> };
    const links = mails.filter((m) => m.template === 'magic-link');
    for (const m of links) t.rememberSecret(magicLinkTokenIn(m.text));
    expect(links.map((m) => m.to)).toEqual([email]);
    expect(startLines(t)).toEqual([]);
  });

  it('is never on in production, even with DEV_OUTBOX=true and a loopback PUBLIC_URL', async () => {
    const t = await app({ NODE_ENV: 'production', DEV_OUTBOX: 'true', PUBLIC_URL: 'http://127.0.0.1:4000' });
    expect((await outbox(t)).status).toBe(404);
    expect(startLines(t)).toHaveLength(1);
    const email = 'production@example.com';
    await requestLink(t, email);
    await settledMailJobs(t.db, email, 2);
    expect((await mailJobs(t.db, email)).every((j) => j.state === 'failed')).toBe(true);
    expect(await outboxRows(t, email)).toEqual([]);
  });
});

describe('the DEV_OUTBOX setting', () => {
  it('turns the outbox on only outside production, for a loopback PUBLIC_URL or when set', () => {
    const on = (env: Record<string, string>) => loadConfig(env).devOutbox;
    expect(on({})).toBe(true);
    for (const url of ['http://127.0.0.1:4000', 'http://[::1]:4000', 'https://localhost', 'http://127.8.9.10']) expect(on({ PUBLIC_URL: url }), url).toBe(true);
    for (const url of [PUBLIC, 'http://10.0.0.5:4000', 'http://0.0.0.0:4000', 'http://localhost.example.com']) expect(on({ PUBLIC_URL: url }), url).toBe(false);
    expect(on({ PUBLIC_URL: PUBLIC, DEV_OUTBOX: 'true' })).toBe(true);
    expect(on({ DEV_OUTBOX: 'false' })).toBe(true);
    expect(on({ NODE_ENV: 'production', DEV_OUTBOX: 'true', ENCRYPTION_KEY: TEST_ENCRYPTION_KEY })).toBe(false);
    expect(() => loadConfig({ DEV_OUTBOX: 'yes' })).toThrow(/DEV_OUTBOX/);
  });
});
