import { AppError } from '../../kernel/errors.ts';
import { authErrors } from './auth-errors.ts';
import type { AuthMethod, SecondFactor, User } from '../../generated/prisma/client.ts';
import type { Transact, UnitOfWork } from '../../kernel/unit-of-work.ts';
import type { Tx } from '../../platform/db.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { AuthResult } from '../../kernel/viewer.ts';
import type { SessionsService } from '../sessions/sessions.service.ts';
import type { ClientInfo } from '../../kernel/client.ts';

/**
 * A strategy's proof, checked and spent inside the sign-in's transaction: it returns the account
 * the proof signs in (creating it when the proof allows), or throws and leaves nothing behind.
 */
export type Claim = (tx: Tx, uow: UnitOfWork) => Promise<Claimed>;

export interface Claimed {
  user: User;
  /**
   * The claim holds a lock on the account's row (a share lock, or the row is its own insert) and
   * read `user` under it: the flow then takes no lock of its own, one statement fewer.
   */
  readUnderLock?: boolean;
}

/** What a session owes after its first factor: decided by the second-factor module. */
export interface SecondFactorState {
  secondFactorPending: boolean;
  secondFactor: SecondFactor | null;
}

export interface SecondFactorGate {
  /** From the user's row as locked by the sign-in. */
  stateAtSignIn(user: Pick<User, 'totpEnabledAt'>, method: AuthMethod): SecondFactorState;
}

export interface SignInOptions {
  /** A registration opens its first session: audited as user.registered, not counted as a login. */
  registration?: boolean;
}

interface Deps {
  transact: Transact;
  sessions: SessionsService;
  audit: AuditService;
  metrics: Metrics;
  /** Filled in by the composition root once the second-factor module exists. */
  secondFactor?: () => SecondFactorGate | undefined;
}

/**
 * THE sign-in flow, the same for every method: in one transaction the strategy's proof is claimed,
 * the second factor decides whether the session is pending, the session is issued and the sign-in
 * audited; after commit it is announced and counted. A method adds a strategy, never a new path.
 */
export function createSignIn({ transact, sessions, audit, metrics, secondFactor }: Deps) {
  const attempt = (method: AuthMethod, client: ClientInfo, claim: Claim, options: SignInOptions) =>
    transact(async (tx, uow): Promise<AuthResult> => {
      const { user, readUnderLock } = await claim(tx, uow);
      // The account's row, share-locked: a password reset, an admin lock or a second factor turned
      // on either commits first (and is read here) or waits for this session and revokes it.
      const [row] = readUnderLock
        ? [user]
        : await tx.$queryRaw<Array<Pick<User, 'totpEnabledAt'>>>`
            SELECT "totpEnabledAt" FROM "User" WHERE id = ${user.id}::uuid FOR SHARE`;
      if (!row) throw authErrors.accountGone();
      const state = secondFactor?.()?.stateAtSignIn(row, method);
      const { token, session } = await sessions.issue(tx, user.id, method, client, state, { userLocked: true });
      const type = options.registration ? 'user.registered' : 'login.succeeded';
      await audit.record({ type, userId: user.id, client, data: { method, sessionId: session.id } }, { tx, uow });
      return { token, user, session };
    });

  return async (method: AuthMethod, client: ClientInfo, claim: Claim, options: SignInOptions = {}): Promise<AuthResult> => {
    if (options.registration) return attempt(method, client, claim, options);
    try {
      // Two first sign-ins of a new address at once: one creates the account, the other loses the
      // race on its unique email (CONFLICT, all rolled back) and, tried again, finds it.
      const result = await attempt(method, client, claim, options).catch((err) => {
        if (err instanceof AppError && err.code === 'CONFLICT') return attempt(method, client, claim, options);
        throw err;
      });
      metrics.logins.inc({ method, result: 'success' });
      return result;
    } catch (err) {
      metrics.logins.inc({ method, result: 'failure' });
      throw err;
    }
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
