import { badInput } from '../../kernel/errors.ts';

/** What the webhook endpoints API refuses. */
export const webhookErrors = {
  noSuchWebhook: () => badInput('No webhook with this id'),
  noSuchDelivery: () => badInput('No delivery with this id'),
  urlInvalid: () => badInput('url is not a valid URL'),
  urlTooLong: (max: number) => badInput(`url must be at most ${max} characters`),
  urlNotHttp: () => badInput('url must be an http(s) URL'),
  urlWithCredentials: () => badInput('url must not carry credentials'),
  /** The target resolves to an address webhooks may not reach; `why` names it, never a secret. */
  urlRefused: (why: string) => badInput(`url refused: ${why}`),
  unknownEvents: (names: string[]) => badInput(`Unknown events: ${names.slice(0, 5).join(', ')}`),
  noEvents: () => badInput('events must name at least one event'),
  descriptionTooLong: (max: number) => badInput(`description must be at most ${max} characters`),
} as const;
