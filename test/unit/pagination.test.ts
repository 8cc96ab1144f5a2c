import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/kernel/errors.ts';
import { after as rowsAfter, decodeCursor, encodeCursor, isUuid, MAX_PAGE_SIZE, pageSize, toPage } from '../../src/kernel/pagination.ts';

// Cursor pagination (src/kernel/pagination.ts): the cursor round-trips, a cursor that is not ours is
// BAD_USER_INPUT (never a crash or a SQL error), and a page is cut from size + 1 rows.

const ID = '0b6f3c4e-9a1d-4f6e-8c2b-5d7e9f1a2b3c';
const AT = new Date('2026-12-01T10:00:00.123Z');
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

function expectBadInput(run: () => unknown) {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(AppError);
  expect((caught as AppError).code).toBe('BAD_USER_INPUT');
}

describe('encodeCursor / decodeCursor', () => {
  it('round-trips a position, to the millisecond', () => {
    const cursor = encodeCursor({ createdAt: AT, id: ID });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual({ createdAt: AT, id: ID });
  });

  it('gives different positions different cursors', () => {
    expect(encodeCursor({ createdAt: AT, id: ID })).not.toBe(encodeCursor({ createdAt: new Date(AT.getTime() + 1), id: ID }));
  });

  it.each([
    ['empty', ''],
    ['not base64 of anything useful', '!!!'],
    ['no id', b64(AT.toISOString())],
    ['an id that is not a uuid', b64(`${AT.toISOString()}|42`)],
    ['an id with SQL in it', b64(`${AT.toISOString()}|' OR 1=1 --`)],
    ['a date that is not one', b64(`yesterday|${ID}`)],
    ['a third part', b64(`${AT.toISOString()}|${ID}|x`)],
    ['over 200 characters', b64(`${AT.toISOString()}|${ID}`).padEnd(201, 'A')],
  ])('refuses a cursor with %s as BAD_USER_INPUT', (_, cursor) => {
    expectBadInput(() => decodeCursor(cursor));
  });
});

describe('after', () => {
  it('is no condition without a cursor', () => {
    expect(rowsAfter(undefined)).toEqual({});
    expect(rowsAfter(null)).toEqual({});
  });

  it('selects rows strictly after the position in (createdAt desc, id desc) order', () => {
    expect(rowsAfter(encodeCursor({ createdAt: AT, id: ID }))).toEqual({ OR: [{ createdAt: { lt: AT } }, { createdAt: AT, id: { lt: ID } }] });
  });

  it('refuses a bad cursor before any query is built', () => {
    expectBadInput(() => rowsAfter('nonsense'));
  });
});

describe('isUuid', () => {
  it('accepts a uuid in either case', () => {
    expect(isUuid(ID)).toBe(true);
    expect(isUuid(ID.toUpperCase())).toBe(true);
  });

  it.each([[''], ['42'], [`${ID}x`], [` ${ID}`], [ID.replace(/-/g, '')], ['0b6f3c4e-9a1d-4f6e-8c2b-5d7e9f1a2b3g']])('refuses %j', (value) => {
    expect(isUuid(value)).toBe(false);
  });
});

describe('pageSize and toPage', () => {
  it('defaults to 20 and allows 0 to 100', () => {
    expect(pageSize(undefined)).toBe(20);
    expect(pageSize(null)).toBe(20);
    expect(pageSize(0)).toBe(0);
    expect(pageSize(MAX_PAGE_SIZE)).toBe(100);
  });

  it.each([[-1], [101], [1.5]])('refuses first: %j as BAD_USER_INPUT', (first) => {
    expectBadInput(() => pageSize(first));
  });

  it('cuts size + 1 rows to size, says there is more, and ends on the last row kept', () => {
    const rows = [0, 1, 2].map((i) => ({ createdAt: new Date(AT.getTime() - i), id: ID.replace(/c$/, String(i)) }));
    const page = toPage(rows, 2);
    expect(page.nodes.map((n) => n.node)).toEqual(rows.slice(0, 2));
    expect(page.hasNextPage).toBe(true);
    expect(decodeCursor(page.endCursor!)).toEqual(rows[1]);
    const whole = toPage(rows, 3);
    expect([whole.nodes.length, whole.hasNextPage, decodeCursor(whole.endCursor!)]).toEqual([3, false, rows[2]]);
    expect(toPage([], 5)).toEqual({ nodes: [], hasNextPage: false, endCursor: null });
  });
});
