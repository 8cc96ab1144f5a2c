import { fastHashing, relaxedRateLimits, type TestApp } from './app.ts';
import type { Config } from '../../src/config/env.ts';
import type { TestDatabase } from './database.ts';
import { emailCodeIn, magicLinkTokenIn, type SendgridFake } from './sendgrid-fake.ts';
import { eventually } from './eventually.ts';

// Shared pieces of the magic-link and email-code tests: fast queue retries, the GraphQL documents,
// reading secrets out of mails (and remembering them for the log check), and scanning the whole
// database for a raw secret.

/** Retries after 1 s instead of 5 s with backoff, so delivery tests do not wait on the default policy. */
export const fastQueue = (config: Config): Config => ({
  ...fastHashing(config),
  queue: { ...config.queue, retryDelaySeconds: 1, retryBackoff: false, pollingIntervalSeconds: 0.5 },
});

export const FRONTEND_URL = 'https://app.example.test/portal';
export const MAIL_FROM = 'Portcullis Test <auth@example.test>';

/** Environment for an app that mails through the SendGrid fake. */
export const sendgridEnv = (fake: SendgridFake, rateLimits = ''): Record<string, string> => ({
  SENDGRID_API_KEY: 'SG.test',
  SENDGRID_API_URL: fake.url,
  FRONTEND_URL,
  MAIL_FROM,
  RATE_LIMITS: [relaxedRateLimits, rateLimits].filter(Boolean).join(';'),
});

export const REQUEST_MAGIC_LINK = `mutation($email: String!) { requestMagicLink(input: { email: $email }) }`;
export const REQUEST_EMAIL_CODE = `mutation($email: String!) { requestEmailCode(input: { email: $email }) }`;
const PAYLOAD = `token user { id email emailVerified hasPassword } session { id method current }`;
export const LOGIN_WITH_MAGIC_LINK = `mutation($email: String!, $token: String!) { loginWithMagicLink(input: { email: $email, token: $token }) { ${PAYLOAD} } }`;
export const LOGIN_WITH_EMAIL_CODE = `mutation($email: String!, $code: String!) { loginWithEmailCode(input: { email: $email, code: $code }) { ${PAYLOAD} } }`;
export const ME = `{ me { id email emailVerified } }`;

const deliveredTo = (fake: SendgridFake, email: string, template: string) =>
  fake.delivered().filter((m) => m.to === email && m.body.custom_args?.template === template).length;

/** Requests a magic link and returns the token of the mail the fake received for it. */
export async function magicLinkFor(t: TestApp, fake: SendgridFake, email: string): Promise<string> {
  const before = deliveredTo(fake, email, 'magic-link');
  const r = await t.gql(REQUEST_MAGIC_LINK, { email });
  if (r.body.data?.requestMagicLink !== true) throw new Error(`requestMagicLink failed: ${JSON.stringify(r.body)}`);
  const mails = await fake.waitForMails(before + 1, { to: email, template: 'magic-link' });
  const token = magicLinkTokenIn(mails.at(-1)!.text);
  t.rememberSecret(token);
  return token;
}

/** Requests an email code and returns the code of the mail the fake received for it. */
export async function emailCodeFor(t: TestApp, fake: SendgridFake, email: string): Promise<string> {
  const before = deliveredTo(fake, email, 'email-code');
  const r = await t.gql(REQUEST_EMAIL_CODE, { email });
  if (r.body.data?.requestEmailCode !== true) throw new Error(`requestEmailCode failed: ${JSON.stringify(r.body)}`);
  const mails = await fake.waitForMails(before + 1, { to: email, template: 'email-code' });
  const code = emailCodeIn(mails.at(-1)!.text);
  t.rememberSecret(code);
  return code;
}

/** A 6-digit code other than `code`. */
export const wrongCode = (code: string, n = 1) => String((Number(code) + n) % 1_000_000).padStart(6, '0');

/** Send-mail jobs for `email` (optionally of one template) in pg-boss, in any state. */
export async function mailJobs(db: TestDatabase, email: string, template?: string): Promise<Array<{ state: string; template: string }>> {
  return db.query(
    `SELECT state::text, data->>'template' AS template FROM pgboss.job
      WHERE name = 'send-mail' AND data->>'email' = $1 AND ($2::text IS NULL OR data->>'template' = $2)`,
    [email, template ?? null],
  );
}

/** Waits until every send-mail job for `email` is settled (completed or failed for good), and returns them. */
export async function settledMailJobs(db: TestDatabase, email: string, count: number) {
  return eventually(
    async () => {
      const jobs = await mailJobs(db, email);
      return jobs.length >= count && jobs.every((j) => j.state === 'completed' || j.state === 'failed') ? jobs : undefined;
    },
    `${count} settled mail jobs for ${email}`,
    20_000,
  );
}

/**
 * Every row of every table of the public and pgboss schemas, as text, one line per row (so a
 * secret in any column of any table, including job payloads and outputs, shows up).
 */
export async function databaseAsText(db: TestDatabase): Promise<string> {
  const tables = await db.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_schema IN ('public', 'pgboss') AND table_type = 'BASE TABLE' ORDER BY 1, 2`,
  );
  const jobTable = tables.some((t) => t.schema === 'pgboss' && t.name === 'job');
  if (!jobTable) throw new Error('no pgboss.job table to scan');
  const parts: string[] = [];
  for (const { schema, name } of tables) {
    const rows = await db.query<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${name}" t`);
    parts.push(...rows.map((r) => `${schema}.${name}: ${r.row}`));
  }
  return parts.join('\n');
}

/** The lines of the database text that hold `secret`; a 6-digit code only counts as a whole number. */
export async function rowsHolding(db: TestDatabase, secret: string): Promise<string[]> {
  const text = await databaseAsText(db);
  const pattern = /^\d+$/.test(secret) ? new RegExp(`(?<!\\d)${secret}(?!\\d)`) : null;
  return text.split('\n').filter((line) => (pattern ? pattern.test(line) : line.includes(secret)));
}

export { emailCodeIn, magicLinkTokenIn };
