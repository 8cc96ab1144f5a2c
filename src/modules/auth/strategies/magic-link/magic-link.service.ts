import type { Config } from '../../../../config/env.ts';
import type { Db } from '../../../../platform/db.ts';
import type { MailService } from '../../../mail/mail.service.ts';
import { link, magicLinkMail } from '../../../mail/templates.ts';
import type { ClientInfo } from '../../../../kernel/client.ts';
import type { SignIn } from '../../sign-in.ts';
import { PASSWORD_SCOPE, type Throttle } from '../../../rate-limit/throttle.ts';
import type { OneTimeTokens } from '../../../tokens/one-time-tokens.ts';
import { normalizeEmail } from '../../../users/email.ts';
import type { UsersService } from '../../../users/users.service.ts';
import type { AuthResult } from '../../../../kernel/viewer.ts';

// Sign-in by a link mailed to the address: the link carries a one-time token bound to that email,
// valid 10 minutes, used once. First use creates the account (its email then verified). A newer
// link does not void an older one still in the inbox; each works once until it expires.

interface Deps {
  db: Db;
  config: Pick<Config, 'frontendUrl' | 'tokens'>;
  tokens: OneTimeTokens;
  mail: MailService;
  users: UsersService;
  signIn: SignIn;
  throttle: Throttle;
}

export function createMagicLinkService({ db, config, tokens, mail, users, signIn, throttle }: Deps) {
  const minutes = config.tokens.magicLinkTtlMs / 60_000;

  mail.register('magic-link', async ({ email }) => {
    const user = await db.user.findUnique({ where: { email }, select: { id: true } });
    const token = await tokens.issue({ purpose: 'MAGIC_LINK', email, userId: user?.id, ttlMs: config.tokens.magicLinkTtlMs });
    const url = link(config.frontendUrl, '/auth/magic-link', { email, token });
    return { to: email, mail: magicLinkMail(url, minutes) };
  });

  return {
    /** Always succeeds for a well-formed address, known or not: the mail is composed by the worker. */
    async request(rawEmail: string): Promise<void> {
      await mail.request({ template: 'magic-link', email: normalizeEmail(rawEmail) });
    },

    async login(input: { email: string; token: string }, client: ClientInfo): Promise<AuthResult> {
      const email = normalizeEmail(input.email);
      return signIn('MAGIC_LINK', client, async (tx, uow) => {
        await tokens.consume(tx, 'MAGIC_LINK', input.token, email);
        // A proof of the mailbox: failed passwords for the address no longer hold anyone back.
        await throttle.clear(email, [PASSWORD_SCOPE], tx);
        return { user: await users.verifiedAccountFor({ tx, uow }, email, { method: 'MAGIC_LINK', client }) };
      });
    },
  };
}

export type MagicLinkService = ReturnType<typeof createMagicLinkService>;
