import { describe, expect, it } from 'vitest';
import type { Session, User } from '../../src/generated/prisma/client.ts';
import { createSessionCache, sessionMark, userMark } from '../../src/modules/sessions/session-cache.ts';
import type { Viewer } from '../../src/modules/sessions/viewer-projection.ts';

// The cache's own rules, on a hand-moved wall clock: TTL, marks, session expiry on every hit, and
// eviction of the least recently used entry.

const NOW = new Date('2026-01-15T12:00:00Z');
const viewer = (n: number, expiresAt = new Date(NOW.getTime() + 3_600_000)): Viewer => ({
  user: { id: `user-${n}` } as User,
  session: { id: `session-${n}`, expiresAt, idleExpiresAt: expiresAt } as Session,
});

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  let wall = 1_000_000;
  const cache = createSessionCache({ ...options, wallNow: () => wall, expiresAt: (v) => v.session.expiresAt });
  return { cache, advance: (ms: number) => (wall += ms), wall: () => wall };
}

describe('session cache', () => {
  it('serves an entry until its TTL is over, then forgets it', () => {
    const { cache, advance, wall } = setup({ ttlMs: 5_000 });
    cache.set('h1', viewer(1), wall());
    advance(4_999);
    expect(cache.get('h1', NOW)?.viewer.user.id).toBe('user-1');
    advance(1);
    expect(cache.get('h1', NOW)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('does not keep a read that is already older than the TTL', () => {
    const { cache, wall } = setup({ ttlMs: 5_000 });
    cache.set('h1', viewer(1), wall() - 5_000);
    expect(cache.get('h1', NOW)).toBeUndefined();
  });

  it('checks the session expiry on every hit', () => {
    const { cache, wall } = setup();
    cache.set('h1', viewer(1, new Date(NOW.getTime() + 1_000)), wall());
    expect(cache.get('h1', new Date(NOW.getTime() + 999))).toBeDefined();
    expect(cache.get('h1', new Date(NOW.getTime() + 1_000))).toBeUndefined();
  });

  it('stops serving an entry read before a change to its user or session, and keeps none read during the window', () => {
    const { cache, advance, wall } = setup();
    cache.set('h1', viewer(1), wall());
    cache.set('h2', viewer(2), wall());
    cache.set('h3', viewer(3), wall());
    advance(10);
    cache.markChanged(userMark('user-1'), wall() + 1_000);
    cache.markChanged(sessionMark('session-2'), wall() + 1_000);
    expect(cache.get('h1', NOW)).toBeUndefined();
    expect(cache.get('h2', NOW)).toBeUndefined();
    expect(cache.get('h3', NOW)).toBeDefined();
    // A read that began inside the window may have seen the state before the commit.
    advance(999);
    cache.set('h1', viewer(1), wall());
    expect(cache.get('h1', NOW)).toBeUndefined();
    // After the window, reads see the committed change and are kept again.
    advance(1);
    cache.set('h1', viewer(1), wall());
    expect(cache.get('h1', NOW)).toBeDefined();
  });

  it('evicts the least recently used entry past its size', () => {
    const { cache, wall } = setup({ maxEntries: 2 });
    cache.set('h1', viewer(1), wall());
    cache.set('h2', viewer(2), wall());
    cache.get('h1', NOW); // h2 is now the least recently used
    cache.set('h3', viewer(3), wall());
    expect(cache.size).toBe(2);
    expect(cache.get('h2', NOW)).toBeUndefined();
    expect(cache.get('h1', NOW)).toBeDefined();
    expect(cache.get('h3', NOW)).toBeDefined();
  });

  it('forgets everything on clear (Redis lost or back)', () => {
    const { cache, wall } = setup();
    cache.set('h1', viewer(1), wall());
    cache.clear();
    expect(cache.get('h1', NOW)).toBeUndefined();
  });
});
