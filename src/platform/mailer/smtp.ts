import type { Transporter } from 'nodemailer';
import type { Mailer } from './mailer.ts';

/**
 * How long an SMTP conversation may stall: like SendGrid's timeout, longer than a relay takes to
 * accept a mail, so a slow answer is not taken for a failure and the mail sent twice.
 */
export const SMTP_TIMEOUT_MS = 60_000;

/**
 * Mail through any SMTP relay (nodemailer). `url` carries everything:
 *   smtp://user:pass@host:587   plain connection upgraded by STARTTLS when the relay offers it
 *                               (add ?requireTLS=true to refuse a relay that does not)
 *   smtps://user:pass@host:465  TLS from the first byte
 * A relay that refuses the mail (or cannot be reached) makes `send` throw: the job is retried.
 */
export function createSmtpMailer({ url }: { url: string }): Mailer {
  // nodemailer (about 20 MB once loaded) is loaded by the first mail, not by every start.
  let transport: Promise<Transporter> | undefined;
  const transportOnce = () =>
    (transport ??= import('nodemailer').then(({ default: nodemailer }) =>
      // Query parameters of the URL (e.g. ?socketTimeout=…) win over these defaults.
      nodemailer.createTransport({ url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: SMTP_TIMEOUT_MS }),
    ));
  return {
    name: 'smtp',
    async send(mail) {
      await (await transportOnce()).sendMail({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        // The mail id travels with the mail: a copy sent twice (a worker killed between the relay's
        // answer and our record of it) can be told apart.
        headers: { 'X-Portcullis-Mail-Id': mail.id, 'X-Portcullis-Template': mail.template },
      });
    },
  };
}
