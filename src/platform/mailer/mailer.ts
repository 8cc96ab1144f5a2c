/** A rendered mail, ready for a provider. */
export interface OutgoingMail {
  id: string;
  template: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** The port every mail adapter implements. `send` throws when the provider did not accept the mail. */
export interface Mailer {
  readonly name: 'sendgrid' | 'smtp' | 'outbox';
  send(mail: OutgoingMail): Promise<void>;
}
