import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDomainEvents } from '../../src/kernel/events.ts';
import { inTransaction, type Scope } from '../../src/kernel/unit-of-work.ts';
import { createDb, type Db } from '../../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

// Domain events reach in-transaction subscribers with the transaction (their writes commit or roll
// back with the change) and after-commit subscribers only once it has committed, in order.

declare module '../../src/kernel/events.ts' {
  interface DomainEventMap {
    'test.happened': { n: number };
  }
}

let database: TestDatabase;
let db: Db;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, 2);
});
afterAll(async () => {
  await db.$disconnect();
  await database.drop();
});

const rows = async () => (await database.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AuditEvent" WHERE type = 'test'`))[0]!.n;

function wired() {
  const heard: number[] = [];
  const events = createDomainEvents<Scope>();
  events.inTransaction('test.happened', async ({ n }, { tx }) => {
    await tx.auditEvent.create({ data: { type: 'test', data: String(n), createdAt: new Date() } });
  });
  events.afterCommit('test.happened', ({ n }) => heard.push(n));
  return { events, heard };
}

it('a committed unit of work writes with its in-transaction subscribers, then tells the others in order', async () => {
  const { events, heard } = wired();
  const before = await rows();
  const result = await inTransaction(
    db,
    async (_tx, uow) => {
      await uow.emit('test.happened', { n: 1 });
      await uow.emit('test.happened', { n: 2 });
      expect(heard).toEqual([]); // not before commit
      return 'done';
    },
    { events },
  );
  expect(result).toBe('done');
  expect(heard).toEqual([1, 2]);
  expect(await rows()).toBe(before + 2);
});

it('a rolled-back unit of work leaves no subscriber write and tells nobody', async () => {
  const { events, heard } = wired();
  const before = await rows();
  const afterCommitTasks: string[] = [];
  await expect(
    inTransaction(
      db,
      async (_tx, uow) => {
        await uow.emit('test.happened', { n: 3 });
        uow.afterCommit(() => afterCommitTasks.push('ran'));
        throw new Error('the change failed');
      },
      { events },
    ),
  ).rejects.toThrow('the change failed');
  expect(heard).toEqual([]);
  expect(afterCommitTasks).toEqual([]);
  expect(await rows()).toBe(before);
});

it('a failing after-commit listener does not keep the next one from hearing, nor fail the committed change', async () => {
  const events = createDomainEvents<Scope>();
  const errors: string[] = [];
  const heard: number[] = [];
  events.afterCommit('test.happened', () => {
    throw new Error('listener broke');
  });
  events.afterCommit('test.happened', ({ n }) => heard.push(n));
  const failing = createDomainEvents<Scope>((err) => errors.push((err as Error).message));
  failing.afterCommit('test.happened', () => {
    throw new Error('listener broke');
  });
  failing.afterCommit('test.happened', ({ n }) => heard.push(n * 10));
  await inTransaction(db, (_tx, uow) => uow.emit('test.happened', { n: 4 }), { events });
  await inTransaction(db, (_tx, uow) => uow.emit('test.happened', { n: 5 }), { events: failing });
  expect(heard).toEqual([4, 50]);
  expect(errors).toEqual(['listener broke']);
});
