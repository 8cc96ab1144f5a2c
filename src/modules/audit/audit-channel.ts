import type { Channel } from '../../platform/events.ts';
import type { AuditRecord } from './audit.service.ts';

/** Every committed audit event, to every instance (the admins' live feed). */
export const auditChannel: Channel<AuditRecord> = {
  name: 'audit',
  encode: (record) => ({ ...record, createdAt: record.createdAt.toISOString() }),
  decode: (wire) => {
    const record = wire as Omit<AuditRecord, 'createdAt'> & { createdAt: string };
    return { ...record, createdAt: new Date(record.createdAt) };
  },
};
