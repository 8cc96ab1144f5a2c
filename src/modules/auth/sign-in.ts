import { AppError } from '../../errors.ts';
import type { AuthMethod, User } from '../../generated/prisma/client.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { AuthResult } from '../users/users.service.ts';
import type { ClientInfo, SessionsService } from '../sessions/sessions.service.ts';

/**
 * The end of every sign-in by a proof other than a password (magic link, email code, OAuth): in
 * one transaction, `claim` spends the proof and returns the account, then the session is opened
 * and the sign-in audited; a failure anywhere leaves nothing behind. Counted by method.
 */
export function createSignIn({ db, sessions, audit, metrics }: { db: Db; sessions: SessionsService; audit: AuditService; metrics: Metrics }) {
  return async (
    method: AuthMethod,
    client: ClientInfo,
    claim: (tx: Tx, afterCommit: (task: () => void) => void) => Promise<User>,
  ): Promise<AuthResult> => {
    const attempt = async () => {
      const committed: Array<() => void> = [];
      const outcome = await db.$transaction(async (tx) => {
        const user = await claim(tx, (task) => committed.push(task));
        const { token, session } = await sessions.issue(tx, user.id, method, client);
        const record = await audit.record({ type: 'login.succeeded', userId: user.id, client, data: { method, sessionId: session.id } }, tx);
        return { result: { token, user, session }, record };
      });
      for (const task of committed) task();
      return outcome;
    };
    try {
      // Two first sign-ins of a new address at once: one creates the account, the other loses the
      // race on its unique email (CONFLICT, all rolled back) and, tried again, finds it.
      const { result, record } = await attempt().catch((err) => {
        if (err instanceof AppError && err.code === 'CONFLICT') return attempt();
        throw err;
      });
      audit.announce([record]);
      metrics.logins.inc({ method, result: 'success' });
      return result;
    } catch (err) {
      metrics.logins.inc({ method, result: 'failure' });
      throw err;
    }
  };
}

export type SignIn = ReturnType<typeof createSignIn>;
