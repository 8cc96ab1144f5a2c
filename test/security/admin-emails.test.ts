import { afterAll, beforeAll, expect, it } from 'vitest';
import { fastHashing, startTestApp, type TestApp } from '../helpers/app.ts';

// ADMIN_EMAILS give the ADMIN role only to an address whose ownership is proven: anyone can
// register any address, so a registration alone must not make an admin.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    env: { ADMIN_EMAILS: 'boss@example.com,chief@example.com' },
    configure: (c) => ({ ...fastHashing(c), queue: { ...c.queue, pollingIntervalSeconds: 0.5, retryDelaySeconds: 1, retryBackoff: false } }),
  });
});
afterAll(() => t.close());

async function mailedToken(to: string, template: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { mails } = (await (await fetch(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } })).json()) as {
      mails: Array<{ to: string; template: string; text: string }>;
    };
    const mail = mails.find((m) => m.to === to && m.template === template);
    if (mail) {
      const token = new URL(/https?:\/\/\S+/.exec(mail.text)![0]).searchParams.get('token')!;
      t.rememberSecret(token);
      return token;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${template} mail for ${to}`);
}

const role = async (token: string) => (await t.gql('{ me { role } }', {}, { token })).body.data.me.role;

it('does not make an admin of an unverified registration of an ADMIN_EMAILS address, only once it is verified', async () => {
  const { token } = await t.register('boss@example.com');
  expect(await role(token)).toBe('USER');
  const admin = await t.gql('{ adminUsers(first: 1) { totalCount } }', {}, { token });
  expect(admin.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');

  const verification = await mailedToken('boss@example.com', 'email-verification');
  // From a session of the account the link was mailed to (the only place verifyEmail works).
  const verified = await t.gql(
    `mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { role emailVerified } }`,
    {
      input: { token: verification },
    },
    { token },
  );
  expect(verified.body.data.verifyEmail).toEqual({ role: 'ADMIN', emailVerified: true });
  expect(await role(token)).toBe('ADMIN');
});

it('makes an admin at once of an ADMIN_EMAILS address proven by a magic link', async () => {
  await t.gql(`mutation { requestMagicLink(input: { email: "chief@example.com" }) }`);
  const token = await mailedToken('chief@example.com', 'magic-link');
  const r = await t.gql(`mutation($input: LoginWithMagicLinkInput!) { loginWithMagicLink(input: $input) { user { role } } }`, {
    input: { email: 'chief@example.com', token },
  });
  expect(r.body.data.loginWithMagicLink.user.role).toBe('ADMIN');
});
