import { sharedErrors } from '../../../../kernel/errors.ts';
import { randomUUID } from 'node:crypto';
import { generateSecret, generateSync } from 'otplib';
import type { Config } from '../../../../config/env.ts';
import type { Clock } from '../../../../platform/clock.ts';
import { hashToken, safeEqual } from '../../../../platform/crypto.ts';
import type { Db } from '../../../../platform/db.ts';
import type { MailService } from '../../../mail/mail.service.ts';
import { emailCodeMail, link } from '../../../mail/templates.ts';
import type { ClientInfo } from '../../../../kernel/client.ts';
import type { SignIn } from '../../sign-in.ts';
import { PASSWORD_SCOPE, type Throttle } from '../../../rate-limit/throttle.ts';

import { normalizeEmail } from '../../../users/email.ts';
import type { UsersService } from '../../../users/users.service.ts';
import type { AuthResult } from '../../../../kernel/viewer.ts';

// Sign-in by a 6-digit code mailed to the address: 10 minutes, stored only as a salted hash, a
// new code voids the previous one, and after 5 wrong tries the code is burned. Every guess first
// reserves one try with a single conditional UPDATE, so no number of parallel guesses can get
// more tries than the budget.

interface Deps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'frontendUrl' | 'tokens' | 'throttle'>;
  mail: MailService;
  users: UsersService;
  signIn: SignIn;
  throttle: Throttle;
}

/** The row id salts the hash, so equal codes of different rows never hash alike. */
const codeHash = (rowId: string, code: string) => hashToken(`${rowId}:${code}`);

export function createEmailCodeService({ db, clock, config, mail, users, signIn, throttle }: Deps) {
  const { emailCodeTtlMs, emailCodeMaxAttempts } = config.tokens;
  // Wrong codes also count per address across codes, so new codes do not bring new guesses.
  const guessBudgets = [
    { scope: 'email-code:hour', policy: config.throttle.emailCodeHourly },
    { scope: 'email-code:day', policy: config.throttle.emailCodeDaily },
  ];
  const guessScopes = guessBudgets.map((b) => b.scope);

  mail.register('email-code', async ({ email }) => {
    const code = generateSync({ secret: generateSecret(), strategy: 'hotp', counter: 0, digits: 6 });
    const id = randomUUID();
    const now = clock.now();
    const user = await db.user.findUnique({ where: { email }, select: { id: true } });
    await db.$transaction(async (tx) => {
      // Codes for one address are issued one at a time: two mails composed at once (two workers)
      // would otherwise each void only what was committed before and leave two live codes.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`email-code:${email}`}, 0))`;
      await tx.oneTimeToken.updateMany({ where: { purpose: 'EMAIL_CODE', email, consumedAt: null }, data: { consumedAt: now } });
      await tx.oneTimeToken.create({
        data: {
          id,
          purpose: 'EMAIL_CODE',
          email,
          userId: user?.id ?? null,
          tokenHash: codeHash(id, code),
          expiresAt: new Date(now.getTime() + emailCodeTtlMs),
          createdAt: now,
        },
      });
    });
    const url = link(config.frontendUrl, '/auth/email-code', { email, code });
    return { to: email, mail: emailCodeMail(code, url, emailCodeTtlMs / 60_000) };
  });

  /** Spends one try of the live code of `email`; returns its row, or throws when none is left. */
  async function reserveTry(email: string): Promise<{ id: string; tokenHash: string; attempts: number }> {
    const now = clock.now();
    const [row] = await db.oneTimeToken.updateManyAndReturn({
      where: { purpose: 'EMAIL_CODE', email, consumedAt: null, expiresAt: { gt: now }, attempts: { lt: emailCodeMaxAttempts } },
      data: { attempts: { increment: 1 } },
      select: { id: true, tokenHash: true, attempts: true },
    });
    if (row) return row;
    const stale = await db.oneTimeToken.findFirst({
      where: { purpose: 'EMAIL_CODE', email, consumedAt: null, attempts: { lt: emailCodeMaxAttempts } },
      select: { id: true },
    });
    throw stale ? sharedErrors.tokenExpired() : sharedErrors.tokenInvalid();
  }

  /**
   * Spends one guess of the address's budget and one try of its code, then compares the code;
   * returns the matching row, or throws (RATE_LIMITED past the budget, even for the right code).
   */
  async function checkCode(email: string, code: string): Promise<{ id: string }> {
    await throttle.reserve(email, guessBudgets);
    if (!/^\d{6}$/.test(code)) throw sharedErrors.tokenInvalid();
    const row = await reserveTry(email);
    if (!safeEqual(row.tokenHash, codeHash(row.id, code))) {
      // The last wrong try burns the code.
      if (row.attempts >= emailCodeMaxAttempts) {
        await db.oneTimeToken.updateMany({ where: { id: row.id, consumedAt: null }, data: { consumedAt: clock.now() } });
      }
      throw sharedErrors.tokenInvalid();
    }
    await throttle.release(email, guessScopes);
    return row;
  }

  return {
    async request(rawEmail: string): Promise<void> {
      await mail.request({ template: 'email-code', email: normalizeEmail(rawEmail) });
    },

    async login(input: { email: string; code: string }, client: ClientInfo): Promise<AuthResult> {
      const email = normalizeEmail(input.email);
      const code = input.code.trim();
      // The try is spent and the code compared before the sign-in transaction opens, on a
      // connection of its own: the spent try stays spent whatever happens next, and no
      // transaction holds one pool connection while it waits for another (a burst of guesses
      // would otherwise starve the pool). A refusal still goes through signIn, to be counted.
      const checked = await checkCode(email, code).then(
        (row) => ({ row }),
        (error: unknown) => ({ error }),
      );
      return signIn('EMAIL_CODE', client, async (tx, uow) => {
        if ('error' in checked) throw checked.error;
        const { count } = await tx.oneTimeToken.updateMany({ where: { id: checked.row.id, consumedAt: null }, data: { consumedAt: clock.now() } });
        if (count !== 1) throw sharedErrors.tokenInvalid(); // a concurrent use of the same code won
        // A proof of the mailbox: failed passwords for the address no longer hold anyone back.
        await throttle.clear(email, [PASSWORD_SCOPE], tx);
        return { user: await users.verifiedAccountFor({ tx, uow }, email, { method: 'EMAIL_CODE', client }) };
      });
    },
  };
}

export type EmailCodeService = ReturnType<typeof createEmailCodeService>;
