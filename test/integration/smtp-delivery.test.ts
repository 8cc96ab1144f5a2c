import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSmtpMailer } from '../../src/platform/mailer/smtp.ts';
import { relaxedRateLimits, startTestApp, type TestApp } from '../helpers/app.ts';
import { FRONTEND_URL, LOGIN_WITH_MAGIC_LINK, MAIL_FROM, REQUEST_MAGIC_LINK, fastQueue, settledMailJobs } from '../helpers/passwordless.ts';
import { magicLinkTokenIn } from '../helpers/sendgrid-fake.ts';
import { eventually } from '../helpers/eventually.ts';
import { startSmtpRelay, type SmtpRelay } from '../helpers/smtp-relay.ts';

// SMTP_URL (issue 20): mail goes through any SMTP relay, here a local `smtp-server` that requires
// a login and offers STARTTLS. The real mail queue sends it; a relay that refuses is retried like
// SendGrid is.

const auth = { user: 'portcullis', pass: 'relay secret' };
let relay: SmtpRelay;
let t: TestApp;
beforeAll(async () => {
  relay = await startSmtpRelay({ auth });
  t = await startTestApp({
    env: { SMTP_URL: relay.url, FRONTEND_URL, MAIL_FROM, RATE_LIMITS: `${relaxedRateLimits};requestMagicLink=1000/1h:IP,1000/15m:EMAIL` },
    configure: (c) => {
      const fast = fastQueue(c);
      return { ...fast, queue: { ...fast.queue, retryLimit: 3 } };
    },
  });
});
afterAll(async () => {
  await t?.close();
  await relay?.close();
});

async function failures(): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('portcullis_mail_sent_total{template="magic-link",result="failure"}'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('SMTP_URL', () => {
  it('delivers a queued mail to the relay with the right sender, recipient, subject and body, after login and STARTTLS', async () => {
    const email = 'smtp-user@example.com';
    expect((await t.gql(REQUEST_MAGIC_LINK, { email })).body).toEqual({ data: { requestMagicLink: true } });
    const mail = await eventually(() => relay.mails.find((m) => m.to.includes(email)), 'the mail at the relay', 15_000);
    expect(mail.to).toEqual([email]);
    expect(mail.from).toBe('auth@example.test');
    expect(mail.headers.from).toContain('auth@example.test');
    expect(mail.subject).toBe('Your sign-in link');
    expect(mail.user).toBe(auth.user);
    expect(mail.secure).toBe(true); // upgraded by STARTTLS on a smtp:// URL
    expect(mail.text).toContain(`${FRONTEND_URL}/`);
    expect(mail.html).toContain('<a ');
    expect(mail.headers['x-portcullis-mail-id']).toMatch(/^[0-9a-f-]{36}$/);
    // The body carries a working link: it signs in.
    const token = magicLinkTokenIn(mail.text);
    t.rememberSecret(token);
    const login = await t.gql(LOGIN_WITH_MAGIC_LINK, { email, token });
    expect(login.body.data.loginWithMagicLink.user.email).toBe(email);
    expect(await settledMailJobs(t.db, email, 1)).toEqual([{ state: 'completed', template: 'magic-link' }]);
    expect(t.leakedSecrets()).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(auth.pass);
  });

  it('retries a mail the relay refuses (451) until it is accepted, once', async () => {
    const email = 'smtp-retry@example.com';
    const before = await failures();
    relay.failNext(2);
    await t.gql(REQUEST_MAGIC_LINK, { email });
    await eventually(() => relay.mails.find((m) => m.to.includes(email)), 'the mail after the retries', 20_000);
    expect(await settledMailJobs(t.db, email, 1)).toEqual([{ state: 'completed', template: 'magic-link' }]);
    expect(relay.refused).toBeGreaterThanOrEqual(2);
    expect(await failures()).toBe(before + 2);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(relay.mails.filter((m) => m.to.includes(email))).toHaveLength(1);
    for (const m of relay.mails) t.rememberSecret(magicLinkTokenIn(m.text));
  });
});

describe('the SMTP mailer', () => {
  const mail = {
    id: '00000000-0000-4000-8000-000000000001',
    template: 'magic-link',
    from: MAIL_FROM,
    to: 'tls@example.com',
    subject: 'Hello',
    text: 'plain body',
    html: '<p>html body</p>',
  };

  it('speaks TLS from the first byte on an smtps:// URL', async () => {
    const secure = await startSmtpRelay({ secure: true, auth });
    try {
      expect(secure.url).toMatch(/^smtps:\/\//);
      await createSmtpMailer({ url: secure.url }).send(mail);
      expect(secure.mails).toMatchObject([
        { to: ['tls@example.com'], subject: 'Hello', text: 'plain body', html: '<p>html body</p>', secure: true, user: auth.user },
      ]);
    } finally {
      await secure.close();
    }
  });

  it('throws when the relay refuses the login, so the job is retried', async () => {
    const strict = await startSmtpRelay({ auth });
    try {
      const wrong = strict.url.replace(encodeURIComponent(auth.pass), 'wrong');
      await expect(createSmtpMailer({ url: wrong }).send(mail)).rejects.toThrow();
      expect(strict.mails).toEqual([]);
    } finally {
      await strict.close();
    }
  });
});
