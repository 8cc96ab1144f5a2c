import type { Channel } from '../../platform/events.ts';
import type { SessionRevocation } from './sessions.service.ts';

/** Every revocation, keyed by its user, to every instance (realtime subscribers, socket watches). */
export const revocationChannel: Channel<SessionRevocation> = {
  name: 'session-revoked',
  encode: (revocation) => ({ ...revocation, revokedAt: revocation.revokedAt.toISOString() }),
  decode: (wire) => {
    const revocation = wire as Omit<SessionRevocation, 'revokedAt'> & { revokedAt: string };
    return { ...revocation, revokedAt: new Date(revocation.revokedAt) };
  },
};
