import { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup } from '../../src/jobs/workers.ts';
import { createDb, type Db } from '../../src/platform/db.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { DAY, MINUTE } from '../helpers/clock.ts';
import {
  LOGIN_WITH_MAGIC_LINK,
  REQUEST_EMAIL_CODE,
  REQUEST_MAGIC_LINK,
  emailCodeIn,
  fastQueue,
  magicLinkFor,
  magicLinkTokenIn,
  sendgridEnv,
  settledMailJobs,
} from '../helpers/passwordless.ts';
import { startSendgridFake, type SendgridFake } from '../helpers/sendgrid-fake.ts';
import { eventually } from '../helpers/eventually.ts';
import { metric } from '../helpers/metrics.ts';

// The mail pipeline (issue 4): a request only queues a job; the worker sends through SendGrid with
// retries, once per mail, and gives up into the dead-letter queue; the "Mail" table tracks each
// mail without its body; a daily cleanup deletes what has expired.

let fake: SendgridFake;
let t: TestApp;
let db: Db;
beforeAll(async () => {
  fake = await startSendgridFake();
  // Three retries (four attempts), one second apart.
  t = await startTestApp({
    env: sendgridEnv(fake, 'requestMagicLink=1000/1h:IP,1000/15m:EMAIL;requestEmailCode=1000/1h:IP,1000/15m:EMAIL'),
    configure: (c) => {
      const fast = fastQueue(c);
      return { ...fast, queue: { ...fast.queue, retryLimit: 3 } };
    },
  });
  db = createDb(t.db.url, 2);
});
afterAll(async () => {
  try {
    await db?.$disconnect();
    await t?.close();
  } finally {
    await fake?.close();
  }
});

const mailRows = (email: string) =>
  t.db.query<{ id: string; status: string; attempts: number; template: string }>(`SELECT id, status::text, attempts, template FROM "Mail" WHERE "to" = $1`, [
    email,
  ]);

describe('retries', () => {
  it('SendGrid answers 500 three times then 202: the mail is delivered once, the API answer is unchanged, /metrics shows the failures', async () => {
    const email = 'flaky@example.com';
    fake.failNext([500, 500, 500]);
    const started = performance.now();
    const r = await t.gql(REQUEST_MAGIC_LINK, { email });
    expect(performance.now() - started).toBeLessThan(1_000); // the request does not wait for the provider
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { requestMagicLink: true } });

    const [mail] = await fake.waitForMails(1, { to: email, timeoutMs: 20_000 });
    const jobs = await settledMailJobs(t.db, email, 1);
    expect(jobs).toEqual([{ state: 'completed', template: 'magic-link' }]);
    const requests = fake.requests.filter((m) => m.to === email);
    expect(requests.map((m) => m.status)).toEqual([500, 500, 500, 202]);
    // Each attempt composes the mail afresh (a new token); all of them are secrets for the log check.
    for (const m of requests) t.rememberSecret(magicLinkTokenIn(m.text));
    // Nothing more arrives for it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(fake.delivered().filter((m) => m.to === email)).toHaveLength(1);
    expect(fake.requests.filter((m) => m.to === email)).toHaveLength(4);

    expect(await metric(t, 'portcullis_mail_sent_total', { template: 'magic-link', result: 'failure' })).toBe(3);
    expect(await metric(t, 'portcullis_mail_sent_total', { template: 'magic-link', result: 'success' })).toBe(1);
    expect(await metric(t, 'portcullis_mail_sent_total', { template: 'magic-link', result: 'dead' })).toBe(0);
    expect(await mailRows(email)).toMatchObject([{ status: 'SENT', attempts: 4, template: 'magic-link' }]);
    const warnings = t.logs.filter((l) => l.includes('mail provider refused the mail'));
    expect(warnings).toHaveLength(3);
    for (const w of warnings) expect(JSON.parse(w)).toMatchObject({ level: 40, status: 500, template: 'magic-link' });

    // The delivered link works.
    const token = magicLinkTokenIn(mail!.text);
    const login = await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token });
    expect(login.body.data.loginWithMagicLink.session.method).toBe('MAGIC_LINK');
  });

  it('a mail SendGrid always refuses ends FAILED in the "Mail" table after its retries, counted as dead', async () => {
    const email = 'bounced@example.com';
    fake.failAlways(500);
    try {
      const r = await t.gql(REQUEST_EMAIL_CODE, { email });
      expect(r.body).toEqual({ data: { requestEmailCode: true } });
      const [row] = await eventually(
        async () => {
          const rows = await mailRows(email);
          return rows[0]?.status === 'FAILED' ? rows : undefined;
        },
        'the mail to be given up',
        25_000,
      );
      expect(row).toMatchObject({ status: 'FAILED', attempts: 4, template: 'email-code' });
      const requests = fake.requests.filter((m) => m.to === email);
      expect(requests.map((m) => m.status)).toEqual([500, 500, 500, 500]);
      for (const m of requests) t.rememberSecret(emailCodeIn(m.text));
      expect(await settledMailJobs(t.db, email, 1)).toEqual([{ state: 'failed', template: 'email-code' }]);
      const dead = await t.db.query(`SELECT state::text, data->>'mailId' AS "mailId" FROM pgboss.job WHERE name = 'send-mail-dead' AND data->>'email' = $1`, [
        email,
      ]);
      expect(dead).toEqual([{ state: 'completed', mailId: row!.id }]);
      expect(await metric(t, 'portcullis_mail_sent_total', { template: 'email-code', result: 'failure' })).toBe(4);
      expect(await metric(t, 'portcullis_mail_sent_total', { template: 'email-code', result: 'dead' })).toBe(1);
      expect(await metric(t, 'portcullis_mail_sent_total', { template: 'email-code', result: 'success' })).toBe(0);
      expect(t.logs.filter((l) => l.includes('mail given up after its retries'))).toHaveLength(1);
    } finally {
      fake.failAlways(202);
    }
  });
});

describe('the "Mail" table', () => {
  it('holds no body: no text or html column, and no row holds a link, token or code', async () => {
    const columns = await t.db.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'Mail' ORDER BY 1`,
    );
    expect(columns.map((c) => c.column_name)).toEqual(['attempts', 'createdAt', 'id', 'sentAt', 'status', 'subject', 'template', 'to']);

    const email = 'no-body@example.com';
    const token = await magicLinkFor(t, fake, email);
    await t.gql(REQUEST_EMAIL_CODE, { email });
    const [codeMail] = await fake.waitForMails(1, { to: email, template: 'email-code' });
    const code = emailCodeIn(codeMail!.text);
    t.rememberSecret(code);
    await settledMailJobs(t.db, email, 2);

    const rows = await t.db.query<{ row: string }>(`SELECT m::text AS row FROM "Mail" m WHERE "to" = $1`, [email]);
    expect(rows).toHaveLength(2);
    for (const { row } of rows) {
      expect(row).not.toContain(token);
      expect(row).not.toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));
      expect(row).not.toContain('/auth/');
    }
  });

  it('sends a mail once per mail id, however often its job runs after it was sent', async () => {
    const email = 'once@example.com';
    const job = { mailId: crypto.randomUUID(), template: 'magic-link' as const, email };
    await t.app.services.mail.deliver(job);
    await t.app.services.mail.deliver(job); // a job run again (a retry after a lost acknowledgement)
    const received = fake.requests.filter((m) => m.to === email);
    for (const m of received) t.rememberSecret(magicLinkTokenIn(m.text));
    expect(received).toHaveLength(1);
    expect(await t.db.query(`SELECT 1 FROM "OneTimeToken" WHERE email = $1`, [email])).toHaveLength(1);
    expect(await mailRows(email)).toMatchObject([{ status: 'SENT' }]);
  });
});

describe('cleanup', () => {
  it('deletes expired tokens and expired sessions, and keeps live ones (cleanup(db, now) with later dates)', async () => {
    const email = 'cleanup@example.com';
    const { userId, sessionId } = await t.register(email);
    const oldToken = await magicLinkFor(t, fake, email);
    t.clock.advance(5 * MINUTE);
    const newToken = await magicLinkFor(t, fake, email);
    const tokens = () =>
      t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "OneTimeToken" WHERE email = $1 AND purpose = 'MAGIC_LINK'`, [email]).then((r) => r[0]!.n);
    const sessionAlive = async () => (await t.db.query(`SELECT 1 FROM "Session" WHERE id = $1`, [sessionId])).length === 1;
    const now = t.clock.now().getTime();
    expect([oldToken, newToken].every(Boolean)).toBe(true);

    await cleanup(db, new Date(now + 4 * MINUTE));
    expect(await tokens()).toBe(2);
    const first = await cleanup(db, new Date(now + 6 * MINUTE)); // the first link expired, the second did not
    expect(first.tokens).toBeGreaterThanOrEqual(1);
    expect(await tokens()).toBe(1);
    expect(await sessionAlive()).toBe(true);

    const second = await cleanup(db, new Date(now + 8 * DAY)); // past the 7-day idle expiry
    expect(await tokens()).toBe(0);
    expect(await sessionAlive()).toBe(false);
    expect(second.sessions).toBeGreaterThanOrEqual(1);
    expect(await t.db.query(`SELECT 1 FROM "User" WHERE id = $1`, [userId])).toHaveLength(1);
  });

  it('runs daily as a pg-boss schedule, and a cleanup job uses the app clock', async () => {
    const [schedule] = await t.db.query(`SELECT name, cron FROM pgboss.schedule WHERE name = 'cleanup'`);
    expect(schedule).toEqual({ name: 'cleanup', cron: '17 3 * * *' });

    const email = 'cleanup-job@example.com';
    const { sessionId } = await t.register(email);
    await magicLinkFor(t, fake, email);
    t.clock.advance(31 * DAY);
    const boss = new PgBoss({ connectionString: t.db.url, supervise: false, schedule: false });
    await boss.start();
    try {
      await boss.send('cleanup', {});
    } finally {
      await boss.stop({ graceful: false });
    }
    await eventually(async () => (await t.db.query(`SELECT 1 FROM "Session" WHERE id = $1`, [sessionId])).length === 0, 'the cleanup job', 15_000);
    expect(await t.db.query(`SELECT 1 FROM "OneTimeToken" WHERE email = $1 AND purpose = 'MAGIC_LINK'`, [email])).toEqual([]);
    expect(t.logs.some((l) => l.includes('cleanup done'))).toBe(true);
  });
});
