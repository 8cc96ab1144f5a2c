import type { Tx } from '../../platform/db.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { ClientInfo } from '../../kernel/client.ts';
import type { UsersService } from '../users/users.service.ts';
import type { AuthResult } from '../../kernel/viewer.ts';
import type { SignIn } from './sign-in.ts';

interface Deps {
  users: UsersService;
  signIn: SignIn;
  /** Queues the verification mail inside the registration's transaction. */
  requestVerification: (user: User, tx: Tx) => Promise<void>;
}

/**
 * Self-registration: the account, its first session and its verification mail in one transaction,
 * through the one sign-in flow (audited as user.registered). The password is optional (a
 * passwordless account).
 */
export function createRegistration({ users, signIn, requestVerification }: Deps) {
  async function register(input: { email: string; password?: string | null; name?: string | null }, client: ClientInfo): Promise<AuthResult> {
    const { email, name, passwordHash } = await users.prepareNewAccount(input);
    return signIn(
      'PASSWORD',
      client,
      async (tx) => {
        const user = await users.createInTransaction(tx, { email, passwordHash, name, emailVerified: false });
        await requestVerification(user, tx);
        return { user, readUnderLock: true }; // its own insert
      },
      { registration: true },
    );
  }
  return { register };
}

export type Registration = ReturnType<typeof createRegistration>;
