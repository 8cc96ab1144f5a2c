import type sendgridMail from '@sendgrid/mail';
import type { Mailer } from './mailer.ts';

/**
 * Longer than SendGrid's own handling of a request: a mail the provider accepted but answered late
 * must not be taken for a failure and sent again. Jobs stay active far longer (queue expiry), and a
 * live worker's heartbeats keep them its own meanwhile.
 */
export const SENDGRID_TIMEOUT_MS = 60_000;

type MailService = typeof sendgridMail;

/** The client is loaded by the first mail, not by every start (about 9 MB once loaded). */
async function mailService(apiKey: string, apiUrl: string): Promise<MailService> {
  const [{ default: clientModule }, { default: mailModule }] = await Promise.all([import('@sendgrid/client'), import('@sendgrid/mail')]);
  const { Client } = clientModule as unknown as { Client: new () => typeof clientModule };
  const { MailService } = mailModule as unknown as { MailService: new () => MailService };
  // One client per instance: the package's default export is a process-wide singleton.
  const client = new Client();
  client.setApiKey(apiKey); // resets the base URL, so it goes first
  client.setDefaultRequest('baseUrl', apiUrl);
  const service = new MailService();
  service.setClient(client);
  service.setTimeout(SENDGRID_TIMEOUT_MS);
  return service;
}

/** SendGrid's v3 API through its official client; `apiUrl` points at another region or a local fake. */
export function createSendgridMailer({ apiKey, apiUrl }: { apiKey: string; apiUrl: string }): Mailer {
  let service: Promise<MailService> | undefined;
  return {
    name: 'sendgrid',
    async send(mail) {
      service ??= mailService(apiKey, apiUrl);
      await (await service).send({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        // The mail id travels with the mail (and back in SendGrid's event webhook): a copy sent twice
        // (a worker killed between SendGrid's answer and our record of it) can be told apart.
        customArgs: { mailId: mail.id, template: mail.template },
        trackingSettings: { clickTracking: { enable: false, enableText: false } },
      });
    },
  };
}
