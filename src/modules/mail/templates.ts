// Mail bodies, text and HTML. Links are built from FRONTEND_URL only (never from request headers),
// and every value placed in HTML is escaped.

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function link(frontendUrl: string, path: string, params: Record<string, string>): string {
  const url = new URL(`${frontendUrl}${path}`);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

function layout(title: string, paragraphs: string[], action?: { label: string; href: string }): string {
  const body = paragraphs.map((p) => `<p style="margin:0 0 16px">${escapeHtml(p)}</p>`).join('');
  const button = action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(action.href)}" style="background:#1f2937;color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none">${escapeHtml(action.label)}</a></p>` +
      `<p style="margin:0 0 16px;font-size:12px;color:#6b7280">Or open this link: ${escapeHtml(action.href)}</p>`
    : '';
  return (
    `<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#111827;max-width:560px;margin:auto;padding:24px">` +
    `<h1 style="font-size:20px">${escapeHtml(title)}</h1>${body}${button}</body></html>`
  );
}

const ignore = 'If you did not ask for this, you can ignore this mail.';

export function magicLinkMail(url: string, minutes: number): RenderedMail {
  return {
    subject: 'Your sign-in link',
    text: `Sign in with this link (valid for ${minutes} minutes, once):\n\n${url}\n\n${ignore}\n`,
    html: layout('Sign in', [`This link signs you in. It works once, for ${minutes} minutes.`, ignore], { label: 'Sign in', href: url }),
  };
}

export function emailCodeMail(code: string, url: string, minutes: number): RenderedMail {
  return {
    // Not in the subject: subjects are stored (the "Mail" table) and shown in provider logs and
    // lock-screen previews; only the body carries the code.
    subject: 'Your sign-in code',
    text: `Your sign-in code is ${code} (valid for ${minutes} minutes).\n\nOr open: ${url}\n\n${ignore}\n`,
    html: layout('Your sign-in code', [`Your code is ${code}. It is valid for ${minutes} minutes.`, ignore], { label: 'Sign in', href: url }),
  };
}

export function passwordResetMail(url: string, minutes: number): RenderedMail {
  return {
    subject: 'Reset your password',
    text: `Choose a new password with this link (valid for ${minutes} minutes, once):\n\n${url}\n\n${ignore}\n`,
    html: layout('Reset your password', [`This link lets you choose a new password. It works once, for ${minutes} minutes.`, ignore], {
      label: 'Choose a new password',
      href: url,
    }),
  };
}

export function emailVerificationMail(url: string, hours: number): RenderedMail {
  return {
    subject: 'Confirm your email address',
    text: `Confirm your email address with this link (valid for ${hours} hours):\n\n${url}\n\n${ignore}\n`,
    html: layout('Confirm your email address', [`Confirm that this address is yours. The link is valid for ${hours} hours.`, ignore], {
      label: 'Confirm',
      href: url,
    }),
  };
}

export function passwordChangedMail(supportUrl: string): RenderedMail {
  const warning = 'If this was not you, reset your password at once: every other session has been signed out.';
  return {
    subject: 'Your password was changed',
    text: `The password of your account was just changed.\n\n${warning}\n\n${supportUrl}\n`,
    html: layout('Your password was changed', ['The password of your account was just changed.', warning], {
      label: 'Reset my password',
      href: supportUrl,
    }),
  };
}

/** The notice that a second factor was added to the account or removed from it. */
export function secondFactorChangedMail(change: 'enabled' | 'disabled', supportUrl: string): RenderedMail {
  const what =
    change === 'enabled'
      ? 'An authenticator app was set up as the second factor of your account.'
      : 'The second factor (authenticator app and recovery codes) was removed from your account.';
  const warning = 'If this was not you, reset your password at once: every other session has been signed out.';
  const subject = change === 'enabled' ? 'Two-step sign-in was turned on' : 'Two-step sign-in was turned off';
  return {
    subject,
    text: `${what}\n\n${warning}\n\n${supportUrl}\n`,
    html: layout(subject, [what, warning], { label: 'Reset my password', href: supportUrl }),
  };
}

/** The notice that a passkey was added: whoever holds it can now sign in to the account. */
export function passkeyAddedMail(supportUrl: string): RenderedMail {
  const what = 'A passkey was added to your account. It can now be used to sign in.';
  const warning = 'If this was not you, reset your password at once and remove the passkey from your account.';
  return {
    subject: 'A passkey was added to your account',
    text: `${what}\n\n${warning}\n\n${supportUrl}\n`,
    html: layout('A passkey was added', [what, warning], { label: 'Reset my password', href: supportUrl }),
  };
}
