import sendgridClient from '@sendgrid/client';
import sendgridMail from '@sendgrid/mail';
import type { Mailer } from './mailer.ts';

const { Client } = sendgridClient as unknown as { Client: new () => typeof sendgridClient };
const { MailService } = sendgridMail as unknown as { MailService: new () => typeof sendgridMail };

/** SendGrid's v3 API through its official client; `apiUrl` points at another region or a local fake. */
export function createSendgridMailer({ apiKey, apiUrl }: { apiKey: string; apiUrl: string }): Mailer {
  // One client per instance: the package's default export is a process-wide singleton.
  const client = new Client();
  client.setApiKey(apiKey); // resets the base URL, so it goes first
  client.setDefaultRequest('baseUrl', apiUrl);
  const service = new MailService();
  service.setClient(client);
  service.setTimeout(10_000);
  return {
    name: 'sendgrid',
    async send(mail) {
      await service.send({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        customArgs: { mailId: mail.id, template: mail.template },
        trackingSettings: { clickTracking: { enable: false, enableText: false } },
      });
    },
  };
}
