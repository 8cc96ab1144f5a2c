import type { Config } from '../../../config/env.ts';
import { sharedErrors } from '../../../kernel/errors.ts';
import { secondFactorErrors as errors } from './second-factor-errors.ts';
import type { AuthMethod, SecondFactor, User } from '../../../generated/prisma/client.ts';
import type { Clock } from '../../../platform/clock.ts';
import type { Transact } from '../../../kernel/unit-of-work.ts';
import type { Db, Tx } from '../../../platform/db.ts';
import type { Encryptor } from '../../../platform/encryption.ts';
import type { Metrics } from '../../../platform/metrics.ts';
import type { AuditService } from '../../audit/audit.service.ts';
import { isUuid } from '../../../kernel/pagination.ts';
import type { MailService, MailTemplate } from '../../mail/mail.service.ts';
import { link, secondFactorChangedMail } from '../../mail/templates.ts';
import type { Throttle } from '../../rate-limit/throttle.ts';
import type { SessionsService, Viewer } from '../../sessions/sessions.service.ts';
import type { ClientInfo } from '../../../kernel/client.ts';
import type { AuthResult } from '../../../kernel/viewer.ts';
import type { PasswordHasher } from '../strategies/password/password-hasher.ts';
import type { SecondFactorState } from '../sign-in.ts';
import { proofOf, spendProof, totpContext, type Proof } from './second-factor-proof.ts';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './recovery-codes.ts';
import { matchTotp, newTotpSecret, totpUri } from './totp.ts';

// The second factor (API.md "Second factor"): TOTP enrolment, the upgrade of a pending session,
// recovery codes, and removal by the user or an admin. Wrong codes count twice: on the pending
// session (the fifth revokes it) and per account across sessions (the throttle, "second-factor").
// Changing the factor revokes the user's other sessions; every step is audited.

export interface TotpEnrollment {
  secret: string;
  otpauthUrl: string;
  qrCodeSvg: string;
}

interface Deps {
  db: Db;
  clock: Clock;
  transact: Transact;
  config: Pick<Config, 'appName' | 'frontendUrl' | 'throttle' | 'password'>;
  encryptor: Encryptor;
  hasher: PasswordHasher;
  sessions: SessionsService;
  audit: AuditService;
  mail: MailService;
  throttle: Throttle;
  metrics: Metrics;
}

/** Wrong codes a pending session may give; the last of them revokes it. */
export const PENDING_SESSION_ATTEMPTS = 5;
export const SECOND_FACTOR_SCOPE = 'second-factor';

/** The throttle counts per account (not per address: the email may change). */
const budgetSubject = (userId: string) => `user:${userId}`;

export function createSecondFactorService({ db, clock, config, transact, encryptor, hasher, sessions, audit, mail, throttle, metrics }: Deps) {
  const budget = [{ scope: SECOND_FACTOR_SCOPE, policy: config.throttle.secondFactor }];
  const count = (action: string, result: string) => metrics.secondFactor.inc({ action, result });

  for (const change of ['enabled', 'disabled'] as const) {
    mail.register(`second-factor-${change}`, async ({ email }) => ({
      to: email,
      mail: secondFactorChangedMail(change, link(config.frontendUrl, '/auth/forgot-password', {})),
    }));
  }

  /** Runs a code check under the account's guess budget: counted first, given back when right. */
  async function budgeted<T>(action: string, userId: string, check: () => Promise<T | null>): Promise<T | null> {
    try {
      await throttle.reserve(budgetSubject(userId), budget);
    } catch (err) {
      count(action, 'throttled');
      throw err;
    }
    const result = await check();
    if (result === null) count(action, 'failure');
    else await throttle.release(budgetSubject(userId), [SECOND_FACTOR_SCOPE]);
    return result;
  }

  async function replaceRecoveryCodes(tx: Tx, userId: string, now: Date): Promise<string[]> {
    const codes = newRecoveryCodes();
    await tx.recoveryCode.deleteMany({ where: { userId } });
    await tx.recoveryCode.createMany({
      data: codes.map((code) => ({ userId, codeHash: hashRecoveryCode(normalizeRecoveryCode(code)!), createdAt: now })),
    });
    return codes;
  }

  /** Removes TOTP and the recovery codes of `userId` (inside `tx`); false when there was none. */
  async function removeFactor(tx: Tx, userId: string, now: Date): Promise<boolean> {
    await sessions.userChanged(tx, userId);
    const { count: removed } = await tx.user.updateMany({
      where: { id: userId, totpEnabledAt: { not: null } },
      data: { totpSecret: null, totpEnabledAt: null, totpLastStep: null, totpPendingSecret: null, totpPendingAt: null, updatedAt: now },
    });
    await tx.recoveryCode.deleteMany({ where: { userId } });
    return removed === 1;
  }

  const notify = (template: MailTemplate, user: Pick<User, 'id' | 'email'>, tx: Tx) => mail.request({ template, email: user.email, userId: user.id }, tx);

  /** A proof from the signed-in user (not a pending session) that TOTP is still theirs. */
  async function spendOwnProof(userId: string, code: string, tx: Tx): Promise<SecondFactor | null> {
    const user = await tx.user.findUniqueOrThrow({ where: { id: userId }, select: { id: true, totpSecret: true } });
    if (!user.totpSecret) throw errors.noSecondFactor();
    return spendProof(tx, encryptor, user, proofOf(code), clock.now());
  }

  return {
    /** What a new session owes: a passkey counts as both factors; TOTP on means pending. */
    stateAtSignIn(user: Pick<User, 'totpEnabledAt'>, method: AuthMethod): SecondFactorState {
      if (method === 'PASSKEY') return { secondFactorPending: false, secondFactor: 'PASSKEY' };
      return { secondFactorPending: user.totpEnabledAt != null, secondFactor: null };
    },

    async startTotpEnrollment(viewer: Viewer, input: { password?: string | null }, client: ClientInfo): Promise<TotpEnrollment> {
      const user = await db.user.findUniqueOrThrow({ where: { id: viewer.user.id } });
      if (user.totpEnabledAt) throw errors.alreadyOnDisableFirst();
      if (user.passwordHash) {
        const password = input.password;
        if (password == null || password.length > config.password.maxLength * 4) throw errors.passwordRequired();
        if (!(await hasher.verify(user.passwordHash, password))) {
          count('enroll', 'failure');
          throw errors.passwordWrong();
        }
      }
      const secret = newTotpSecret();
      const now = clock.now();
      await db.user.update({
        where: { id: user.id },
        data: { totpPendingSecret: encryptor.seal(secret, totpContext(user.id)), totpPendingAt: now },
      });
      await audit.record({ type: 'second_factor.enrollment_started', userId: user.id, client, data: { factor: 'TOTP' } });
      count('enroll', 'success');
      const otpauthUrl = totpUri({ issuer: config.appName, label: user.email, secret });
      // Loaded by the first enrolment, not by every start.
      const { default: QRCode } = await import('qrcode');
      return { secret, otpauthUrl, qrCodeSvg: await QRCode.toString(otpauthUrl, { type: 'svg', margin: 2 }) };
    },

    /** Turns TOTP on with a current code; returns the recovery codes, shown this once. */
    async confirmTotpEnrollment(viewer: Viewer, input: { code: string }, client: ClientInfo): Promise<string[]> {
      const userId = viewer.user.id;
      const user = await db.user.findUniqueOrThrow({ where: { id: userId } });
      if (user.totpEnabledAt) throw errors.alreadyOn();
      const pending = user.totpPendingSecret;
      if (!pending) throw errors.enrolmentNotStarted();
      const step = await budgeted('confirm', userId, async () => matchTotp(encryptor.open(pending, totpContext(userId)), input.code, clock.now()));
      if (step === null) throw errors.wrongCode();
      const codes = await transact(async (tx, uow) => {
        const now = clock.now();
        // The step that confirmed counts as used; a second enrolment racing this one loses here.
        const { count: enabled } = await tx.user.updateMany({
          where: { id: userId, totpEnabledAt: null, totpPendingSecret: pending },
          data: { totpSecret: pending, totpEnabledAt: now, totpLastStep: BigInt(step), totpPendingSecret: null, totpPendingAt: null, updatedAt: now },
        });
        if (enabled !== 1) throw errors.enrolmentChanged();
        await sessions.userChanged(tx, userId); // cached views of the user's sessions are stale from now
        const codes = await replaceRecoveryCodes(tx, userId, now);
        await tx.session.update({ where: { id: viewer.session.id }, data: { secondFactor: 'TOTP' } });
        await audit.record({ type: 'second_factor.enabled', userId, client, data: { factor: 'TOTP' } }, { tx, uow });
        await sessions.revokeInTransaction({ tx, uow }, userId, 'SECOND_FACTOR_CHANGED', viewer.session.id, { client });
        await notify('second-factor-enabled', user, tx);
        return codes;
      });
      count('confirm', 'success');
      return codes;
    },

    /** Upgrades a pending session (same token) with a TOTP code or a recovery code. */
    async completeSecondFactor(viewer: Viewer, input: { code?: string | null; recoveryCode?: string | null }, client: ClientInfo): Promise<AuthResult> {
      const { user, session } = viewer;
      if (!session.secondFactorPending || !viewer.token) throw errors.nothingOwed();
      if ((input.code == null) === (input.recoveryCode == null)) throw errors.oneProof();
      const proof: Proof = input.code != null ? { factor: 'TOTP', code: input.code } : { factor: 'RECOVERY_CODE', code: input.recoveryCode! };
      const upgraded = await budgeted('complete', user.id, () =>
        transact(async (tx, uow) => {
          const owner = await tx.user.findUniqueOrThrow({ where: { id: user.id }, select: { id: true, totpSecret: true } });
          const factor = await spendProof(tx, encryptor, owner, proof, clock.now());
          if (!factor) return null;
          const [row] = await tx.session.updateManyAndReturn({
            where: { id: session.id, secondFactorPending: true, revokedAt: null },
            data: { secondFactorPending: false, secondFactor: factor, secondFactorFailures: 0 },
          });
          if (!row) throw errors.sessionEnded();
          await sessions.sessionChanged(tx, session.id); // no instance may keep serving it as pending
          await audit.record({ type: 'second_factor.completed', userId: user.id, client, data: { factor, sessionId: session.id } }, { tx, uow });
          return row;
        }),
      );
      if (!upgraded) {
        await countFailure(viewer, client);
        throw errors.wrongCode();
      }
      count('complete', 'success');
      return { token: viewer.token, user, session: upgraded };
    },

    /** Removes TOTP and the recovery codes, given a current code or a recovery code. */
    async disableSecondFactor(viewer: Viewer, input: { code: string }, client: ClientInfo): Promise<void> {
      const userId = viewer.user.id;
      const factor = await budgeted('disable', userId, () =>
        transact(async (tx, uow) => {
          const spent = await spendOwnProof(userId, input.code, tx);
          if (!spent) return null;
          await removeFactor(tx, userId, clock.now());
          await audit.record({ type: 'second_factor.disabled', userId, client, data: { factor: 'TOTP', proof: spent } }, { tx, uow });
          await sessions.revokeInTransaction({ tx, uow }, userId, 'SECOND_FACTOR_CHANGED', viewer.session.id, { client });
          await notify('second-factor-disabled', viewer.user, tx);
          return spent;
        }),
      );
      if (!factor) throw errors.wrongCode();
      count('disable', 'success');
    },

    /** A new set of recovery codes; the old ones stop working. */
    async regenerateRecoveryCodes(viewer: Viewer, input: { code: string }, client: ClientInfo): Promise<string[]> {
      const userId = viewer.user.id;
      const codes = await budgeted('regenerate', userId, () =>
        transact(async (tx, uow) => {
          const spent = await spendOwnProof(userId, input.code, tx);
          if (!spent) return null;
          const codes = await replaceRecoveryCodes(tx, userId, clock.now());
          await audit.record({ type: 'recovery_codes.regenerated', userId, client, data: { proof: spent } }, { tx, uow });
          return codes;
        }),
      );
      if (!codes) throw errors.wrongCode();
      count('regenerate', 'success');
      return codes;
    },

    /** An admin removes a user's second factor and revokes every session of the user. */
    async adminResetSecondFactor(actor: { userId: string | null; client: ClientInfo | null }, userId: string): Promise<void> {
      await transact(async (tx, uow) => {
        const user = isUuid(userId) ? await tx.user.findUnique({ where: { id: userId } }) : null;
        if (!user) throw sharedErrors.noSuchUser();
        const removed = await removeFactor(tx, userId, clock.now());
        const by = { actorId: actor.userId, client: actor.client };
        await audit.record({ type: 'admin.second_factor.reset', userId, ...by, data: { hadTotp: removed } }, { tx, uow });
        await sessions.revokeInTransaction({ tx, uow }, userId, 'SECOND_FACTOR_CHANGED', undefined, by);
        if (removed) await notify('second-factor-disabled', user, tx);
      });
      count('admin_reset', 'success');
    },

    /** Unused recovery codes of the user. */
    recoveryCodesLeft: (userId: string): Promise<number> => db.recoveryCode.count({ where: { userId, usedAt: null } }),
  };

  /** A wrong code on a pending session: counted on it, and the fifth revokes it. */
  async function countFailure(viewer: Viewer, client: ClientInfo): Promise<void> {
    const { user, session } = viewer;
    const [row] = await db.$queryRaw<Array<{ failures: number }>>`
      UPDATE "Session" SET "secondFactorFailures" = "secondFactorFailures" + 1
       WHERE id = ${session.id}::uuid AND "revokedAt" IS NULL AND "secondFactorPending"
      RETURNING "secondFactorFailures" AS failures`;
    if (!row) return; // revoked meanwhile
    const { failures } = row;
    await audit.record({ type: 'second_factor.failed', userId: user.id, client, data: { sessionId: session.id, failures } });
    if (failures >= PENDING_SESSION_ATTEMPTS) await sessions.revokeOne(user.id, session.id, 'SECOND_FACTOR_FAILED', { client });
  }
}

export type SecondFactorService = ReturnType<typeof createSecondFactorService>;
