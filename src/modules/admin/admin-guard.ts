import { sharedErrors } from '../../kernel/errors.ts';
import { adminErrors } from './admin-errors.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { Tx } from '../../platform/db.ts';
import { isUuid } from '../../kernel/pagination.ts';
import type { ClientInfo } from '../../kernel/client.ts';

/** Who performs an admin action: an admin (userId), or the operator's CLI (userId null). */
export interface Actor {
  userId: string | null;
  client: ClientInfo | null;
  via?: 'cli';
}

const verbs = { lock: ['lock', 'locked'], demote: ['demote', 'demoted'], delete: ['delete', 'deleted'] } as const;

/**
 * The rules for an action that could take an admin away: nobody does it to themselves, the actor
 * is still an admin, and at least one other admin who is not locked remains. Every admin row and
 * the target's row are locked first (in id order, so two guards never deadlock), so two admins
 * demoting each other at the same moment cannot leave none: the second waits for the first and
 * then sees its result. Returns the target as it is now.
 */
export async function guardAdmins(tx: Tx, actor: Actor, targetId: string, action: keyof typeof verbs, now: Date): Promise<User> {
  const [verb, done] = verbs[action];
  if (!isUuid(targetId)) throw sharedErrors.noSuchUser();
  if (actor.userId === targetId) throw adminErrors.notOnOwnAccount(verb);
  await tx.$executeRaw`SELECT 1 FROM "User" WHERE role = 'ADMIN' OR id = ${targetId}::uuid ORDER BY id FOR UPDATE`;
  const rows = await tx.user.findMany({ where: { OR: [{ role: 'ADMIN' }, { id: targetId }] } });
  const target = rows.find((row) => row.id === targetId);
  if (!target) throw sharedErrors.noSuchUser();
  if (actor.userId && !rows.some((row) => row.id === actor.userId && row.role === 'ADMIN')) {
    throw adminErrors.noLongerAdmin();
  }
  const active = (row: User) => row.role === 'ADMIN' && row.id !== targetId && !(row.lockedUntil && row.lockedUntil > now);
  if (target.role === 'ADMIN' && !rows.some(active)) {
    throw adminErrors.lastAdmin(done);
  }
  return target;
}
