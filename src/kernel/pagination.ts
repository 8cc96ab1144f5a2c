import { sharedErrors } from './errors.ts';

// Keyset pagination, newest first, over (createdAt, id): a total order, so a listing walked page
// by page returns every row exactly once even while rows are added, and a cursor stays valid when
// its own row is deleted (an offset or a cursor on the row itself would not).

/** API.md: `first` at most 100 on any connection. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` can be a uuid column's value (anything else would make PostgreSQL fail). */
export const isUuid = (value: string): boolean => UUID.test(value);

export interface Position {
  createdAt: Date;
  id: string;
}

export interface Page<T> {
  nodes: Array<{ cursor: string; node: T }>;
  hasNextPage: boolean;
  endCursor: string | null;
}

export function pageSize(first: number | null | undefined): number {
  if (first == null) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw sharedErrors.pageSizeOutOfRange(MAX_PAGE_SIZE);
  }
  return first;
}

export function encodeCursor({ createdAt, id }: Position): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  const [iso, id, extra] = cursor.length <= 200 ? Buffer.from(cursor, 'base64url').toString('utf8').split('|') : [];
  const createdAt = new Date(iso ?? Number.NaN);
  if (extra !== undefined || !id || !isUuid(id) || Number.isNaN(createdAt.getTime())) throw sharedErrors.invalidCursor();
  return { createdAt, id };
}

/** Rows strictly after `cursor` in (createdAt desc, id desc) order; a Prisma `where` for any such model. */
export function after(cursor: string | null | undefined) {
  if (!cursor) return {};
  const { createdAt, id } = decodeCursor(cursor);
  return { OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] };
}

export const newestFirst = [{ createdAt: 'desc' as const }, { id: 'desc' as const }];

/** Builds a page from up to `size + 1` rows fetched in `newestFirst` order. */
export function toPage<T extends Position>(rows: T[], size: number): Page<T> {
  const nodes = rows.slice(0, size).map((node) => ({ cursor: encodeCursor(node), node }));
  return { nodes, hasNextPage: rows.length > size, endCursor: nodes.at(-1)?.cursor ?? null };
}
