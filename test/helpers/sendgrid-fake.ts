// The SendGrid stand-in (shared with the benches, in scripts/) and reading the secrets out of a
// mail, as a user would.

export { startSendgridFake, type ReceivedMail, type SendgridFake } from '../../scripts/sendgrid-fake.ts';

/** The one link of a mail's text to `path` (e.g. /auth/magic-link), parsed; throws when there is none or several. */
export function linkIn(text: string, path: string): URL {
  const links = [...text.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((match) => new URL(match[0])).filter((url) => url.pathname.endsWith(path));
  if (links.length !== 1) throw new Error(`expected one ${path} link in the mail, found ${links.length}: ${text}`);
  return links[0]!;
}

/** The token of the magic link in a mail's text. */
export function magicLinkTokenIn(text: string): string {
  const token = linkIn(text, '/auth/magic-link').searchParams.get('token');
  if (!token) throw new Error('the magic link carries no token');
  return token;
}

/** The 6-digit code in a mail's text ("Your sign-in code is 123456"). */
export function emailCodeIn(text: string): string {
  const match = /\bcode is (\d{6})\b/.exec(text);
  if (!match) throw new Error(`no 6-digit code in the mail: ${text}`);
  return match[1]!;
}
