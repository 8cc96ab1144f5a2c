import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { maskEmail } from '../logger.ts';
import type { Mailer } from './mailer.ts';

/**
 * Without a mail provider, mails land in a table that GET /dev/outbox shows, and one log line says
 * so, with the outbox address: a newcomer can click a magic link without any setup. Links are not
 * written to the log (they carry one-time secrets). Mails are stamped with the wall clock: the
 * outbox lists them in the order they arrived.
 */
export function createDevOutboxMailer({ db, log, publicUrl, now }: { db: Db; log: Logger; publicUrl: string; now: () => Date }): Mailer {
  return {
    name: 'outbox',
    async send(mail) {
      await db.devOutboxMail.upsert({
        where: { id: mail.id },
        create: { id: mail.id, template: mail.template, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, createdAt: now() },
        update: {},
      });
      log.info({ template: mail.template, to: maskEmail(mail.to), outbox: `${publicUrl}/dev/outbox` }, 'mail stored in the dev outbox');
    },
  };
}
