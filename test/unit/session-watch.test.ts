import { afterEach, expect, it } from 'vitest';
import { createSessionWatch, type EndReason } from '../../src/graphql/transports/session-watch.ts';
import { revocationChannel } from '../../src/modules/sessions/revocation-channel.ts';
import { createEvents, type Events } from '../../src/platform/events.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { eventually } from '../helpers/eventually.ts';

// The one registry of long-lived connections: one listener per user however many connections the
// user has open, each connection ended once, by its revocation or by a sweep.

let events: Events;
afterEach(() => events?.close());

const viewer = (userId: string, sessionId: string) => ({ user: { id: userId }, session: { id: sessionId } });
const revoke = (userId: string, sessionId: string) => events.publish(revocationChannel, { userId, sessionId, reason: 'LOGOUT', revokedAt: new Date() }, userId);

function setup(live: Set<string>) {
  events = createEvents({ prefix: 'test:', log: createLogger('silent') });
  const checks: string[][] = [];
  const watch = createSessionWatch({ events, liveIds: async (ids) => (checks.push(ids), new Set(ids.filter((id) => live.has(id)))) });
  return { watch, checks };
}

it('hears each user once, ends only the connections of the revoked session, and stops listening when the last one leaves', async () => {
  const { watch } = setup(new Set());
  const ended: Array<[string, EndReason]> = [];
  const socketA = watch.watch(viewer('u1', 's1'), (r) => ended.push(['socketA', r]));
  watch.watch(viewer('u1', 's1'), (r) => ended.push(['streamA', r]));
  const socketB = watch.watch(viewer('u1', 's2'), (r) => ended.push(['socketB', r]));
  watch.watch(viewer('u2', 's3'), (r) => ended.push(['other', r]));
  expect(watch.listeningUsers()).toBe(2);
  revoke('u1', 's1');
  await eventually(() => ended.length === 2, 'both connections of s1 ended');
  expect(ended.sort()).toEqual([
    ['socketA', 'revoked'],
    ['streamA', 'revoked'],
  ]);
  socketA(); // closing an ended connection again is harmless
  socketB();
  expect(watch.listeningUsers()).toBe(1);
  revoke('u1', 's2');
  await new Promise((r) => setTimeout(r, 30));
  expect(ended).toHaveLength(2);
});

it('a sweep checks every watched session in one query and ends the connections of those no longer live', async () => {
  const { watch, checks } = setup(new Set(['s1']));
  const ended: string[] = [];
  watch.watch(viewer('u1', 's1'), () => ended.push('live'));
  watch.watch(viewer('u1', 's2'), (r) => ended.push(`expired:${r}`));
  watch.watch(viewer('u2', 's3'), (r) => ended.push(`deleted:${r}`));
  expect(await watch.sweep()).toBe(2);
  expect(checks).toEqual([['s1', 's2', 's3']]);
  expect(ended.sort()).toEqual(['deleted:ended', 'expired:ended']);
  expect(watch.listeningUsers()).toBe(1);
  expect(await watch.sweep()).toBe(0);
});
