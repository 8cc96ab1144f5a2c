import type { Session, User } from '../generated/prisma/client.ts';

/** What a sign-in hands back: the bearer token, once, with the account and the session it opened. */
export interface AuthResult {
  token: string;
  user: User;
  session: Session;
}
