import { afterAll, beforeAll, expect, it } from 'vitest';
import { fastHashing, startTestApp, type TestApp } from '../helpers/app.ts';

// Pre-registration: someone registers a victim's address with a password of theirs and never
// verifies it. When the real owner proves the address (here by magic link), the account becomes
// theirs alone: the squatter's password and sessions stop working.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    configure: (c) => ({ ...fastHashing(c), queue: { ...c.queue, pollingIntervalSeconds: 0.5, retryDelaySeconds: 1, retryBackoff: false } }),
  });
});
afterAll(() => t.close());

async function latestMagicLinkToken(to: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { mails } = (await (await fetch(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } })).json()) as {
      mails: Array<{ to: string; template: string; text: string }>;
    };
    const mail = mails.find((m) => m.to === to && m.template === 'magic-link');
    if (mail) return new URL(/https?:\/\/\S+/.exec(mail.text)![0]).searchParams.get('token')!;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no magic link arrived');
}

it('the proven owner of an address takes over an unverified account: the squatter loses its password and sessions', async () => {
  const squatter = await t.register('victim@example.com', 'squatter password');

  await t.gql(`mutation { requestMagicLink(input: { email: "victim@example.com" }) }`);
  const token = await latestMagicLinkToken('victim@example.com');
  t.rememberSecret(token);
  const owner = await t.gql(
    `mutation($input: LoginWithMagicLinkInput!) { loginWithMagicLink(input: $input) { token user { id emailVerified hasPassword } } }`,
    { input: { email: 'victim@example.com', token } },
  );
  expect(owner.body.data.loginWithMagicLink.user).toMatchObject({ id: squatter.userId, emailVerified: true, hasPassword: false });

  expect((await t.gql('{ me { id } }', {}, { token: squatter.token })).status).toBe(401);
  const retry = await t.gql(`mutation { login(input: { email: "victim@example.com", password: "squatter password" }) { token } }`);
  expect(retry.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  expect((await t.gql('{ me { id } }', {}, { token: owner.body.data.loginWithMagicLink.token })).body.data.me.id).toBe(squatter.userId);
  const [row] = await t.db.query(`SELECT "revokeReason" FROM "Session" WHERE id = $1`, [squatter.sessionId]);
  expect(row.revokeReason).toBe('PASSWORD_RESET');
});

it('leaves a verified account as it is when its owner signs in by magic link', async () => {
  const user = await t.register('verified@example.com', 'my own password');
  await t.db.query(`UPDATE "User" SET "emailVerified" = true WHERE id = $1`, [user.userId]);
  await t.gql(`mutation { requestMagicLink(input: { email: "verified@example.com" }) }`);
  const token = await latestMagicLinkToken('verified@example.com');
  t.rememberSecret(token);
  const r = await t.gql(`mutation($input: LoginWithMagicLinkInput!) { loginWithMagicLink(input: $input) { user { hasPassword } } }`, {
    input: { email: 'verified@example.com', token },
  });
  expect(r.body.data.loginWithMagicLink.user.hasPassword).toBe(true);
  expect((await t.gql('{ me { id } }', {}, { token: user.token })).body.data.me.id).toBe(user.userId);
});
