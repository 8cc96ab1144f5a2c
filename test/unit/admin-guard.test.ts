import { describe, expect, it } from 'vitest';
import { guardAdmins, type Actor } from '../../src/modules/admin/admin-guard.ts';
import type { Tx } from '../../src/platform/db.ts';

// The rules that keep an admin in charge (src/modules/admin/admin-guard.ts), on rows held in memory:
// nobody locks, demotes or deletes themselves, the actor must still be an admin, and the last admin
// who is not locked stays. The row locks and the race are covered against PostgreSQL in
// test/security/admin-rules.test.ts.

const NOW = new Date('2026-12-01T12:00:00Z');
const LATER = new Date(NOW.getTime() + 60_000);
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const [BOSS, OTHER, USER, GONE] = [id(1), id(2), id(3), id(4)];

interface Row {
  id: string;
  role: 'ADMIN' | 'USER';
  lockedUntil: Date | null;
}
const admin = (rowId: string, lockedUntil: Date | null = null): Row => ({ id: rowId, role: 'ADMIN', lockedUntil });
const user = (rowId: string): Row => ({ id: rowId, role: 'USER', lockedUntil: null });

/** A transaction over `rows` that records its statements: the row lock, then the read. */
function memoryTx(rows: Row[]) {
  const statements: string[] = [];
  const tx = {
    $executeRaw: async () => void statements.push('lock'),
    user: {
      findMany: async ({ where }: { where: { OR: [unknown, { id: string }] } }) => {
        statements.push('read');
        return rows.filter((row) => row.role === 'ADMIN' || row.id === where.OR[1].id);
      },
    },
  };
  return { tx: tx as unknown as Tx, statements };
}

const byAdmin = (userId: string): Actor => ({ userId, client: null });
const cli: Actor = { userId: null, client: null, via: 'cli' };

async function refusal(rows: Row[], actor: Actor, target: string, action: 'lock' | 'demote' | 'delete' = 'demote') {
  try {
    await guardAdmins(memoryTx(rows).tx, actor, target, action, NOW);
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  return undefined;
}

describe('guardAdmins', () => {
  it('lets an admin act on another admin while an active admin remains, and returns the target as read', async () => {
    const { tx, statements } = memoryTx([admin(BOSS), admin(OTHER)]);
    expect(await guardAdmins(tx, byAdmin(BOSS), OTHER, 'demote', NOW)).toEqual(admin(OTHER));
    expect(statements).toEqual(['lock', 'read']);
  });

  it('lets an admin act on a user, the last admin included', async () => {
    expect(await refusal([admin(BOSS), user(USER)], byAdmin(BOSS), USER, 'delete')).toBeUndefined();
  });

  it.each(['lock', 'demote', 'delete'] as const)('refuses to %s yourself, before reading a row', async (action) => {
    const { tx, statements } = memoryTx([admin(BOSS), admin(OTHER)]);
    await expect(guardAdmins(tx, byAdmin(BOSS), BOSS, action, NOW)).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: `An admin cannot ${action} their own account`,
    });
    expect(statements).toEqual([]);
  });

  it('refuses an actor who is no longer an admin', async () => {
    expect(await refusal([user(BOSS), admin(OTHER), admin(USER)], byAdmin(BOSS), OTHER)).toEqual({
      code: 'FORBIDDEN',
      message: 'Not allowed: you are no longer an admin',
    });
  });

  it.each([
    ['lock', 'locked'],
    ['demote', 'demoted'],
    ['delete', 'deleted'],
  ] as const)('keeps the last active admin: the CLI cannot %s them', async (action, done) => {
    expect(await refusal([admin(BOSS), user(USER)], cli, BOSS, action)).toEqual({
      code: 'FORBIDDEN',
      message: `The last active admin cannot be ${done}: make another admin first`,
    });
  });

  it('counts an admin locked until later as not active, and one whose lock has passed as active', async () => {
    expect(await refusal([admin(BOSS), admin(OTHER, LATER)], byAdmin(OTHER), BOSS)).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal([admin(BOSS), admin(OTHER, NOW)], byAdmin(OTHER), BOSS)).toBeUndefined();
  });

  it('lets the CLI act on an admin while another active admin remains', async () => {
    expect(await refusal([admin(BOSS), admin(OTHER)], cli, BOSS, 'lock')).toBeUndefined();
  });

  it('answers BAD_USER_INPUT for an id that is not a uuid or names nobody', async () => {
    expect(await refusal([admin(BOSS)], byAdmin(BOSS), 'not-a-uuid')).toEqual({ code: 'BAD_USER_INPUT', message: 'No user with this id' });
    expect(await refusal([admin(BOSS)], byAdmin(BOSS), GONE)).toEqual({ code: 'BAD_USER_INPUT', message: 'No user with this id' });
  });
});
