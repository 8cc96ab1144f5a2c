import { Repeater } from '@repeaterjs/repeater';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Events } from '../../platform/events.ts';
import { auditChannel } from './audit-channel.ts';
import type { AuditRecord } from './audit.service.ts';
import type { Viewer } from '../sessions/sessions.service.ts';

// What a subscriber of `adminAuditFeed` receives: every audit event committed on any instance
// from now on. The subscriber was an admin when it subscribed; before each event it is checked
// again (one indexed lookup), so an admin who is demoted, or whose session ends, stops hearing the
// log at once instead of when the socket happens to close. A Repeater, like the revocation feed,
// so a subscriber that leaves releases its listener immediately.

interface Deps {
  db: Db;
  clock: Clock;
  events: Events;
}

export function createAuditFeed({ db, clock, events }: Deps) {
  async function stillAdmin(viewer: Viewer): Promise<boolean> {
    const now = clock.now();
    const live = await db.session.count({
      where: {
        id: viewer.session.id,
        revokedAt: null,
        expiresAt: { gt: now },
        idleExpiresAt: { gt: now },
        user: { role: 'ADMIN' },
      },
    });
    return live > 0;
  }

  return {
    eventsFor(viewer: Viewer): AsyncIterableIterator<AuditRecord> {
      return new Repeater<AuditRecord>(async (push, stop) => {
        const source = events.subscribe(auditChannel);
        void stop.then(() => source.return?.());
        for await (const event of source) {
          if (!(await stillAdmin(viewer))) break;
          await push(event);
        }
        stop();
      });
    },
  };
}

export type AuditFeed = ReturnType<typeof createAuditFeed>;
