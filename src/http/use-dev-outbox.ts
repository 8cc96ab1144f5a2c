import type { Logger } from '../platform/logger.ts';
import type { MailService } from '../modules/mail/mail.service.ts';
import { routePlugin, type Answer, type ServerPlugin } from './route.ts';

// GET /dev/outbox: the latest mails of the dev outbox, as a page to click links in, or as JSON
// (Accept: application/json) for scripts and tests. Served only while config.devOutbox is on (never
// in production; else a loopback PUBLIC_URL or DEV_OUTBOX=true), as anyone who reaches it can sign
// in as whoever was mailed a link.

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A link in a mail opens in the whole window (the sandbox lets a click do that, and our pages may
 * not be framed): the mail gets `<base target="_top">`, in its head so it keeps its standards mode.
 */
function linksOpenInTopWindow(html: string): string {
  const base = '<base target="_top">';
  if (/<head[^>]*>/i.test(html)) return html.replace(/<head[^>]*>/i, (head) => head + base);
  if (/<html[^>]*>/i.test(html)) return html.replace(/<html[^>]*>/i, (open) => `${open}<head>${base}</head>`);
  return base + html;
}

/** The text part, escaped, with its web links clickable (they are our own, from FRONTEND_URL). */
const textWithLinks = (text: string) => escapeHtml(text).replace(/https?:\/\/[^\s<"']+/g, (url) => `<a href="${url}">${url}</a>`);

export function useDevOutbox(log: Logger, mail: MailService): ServerPlugin {
  return routePlugin(log, ({ request, url }) => {
    if (url.pathname !== '/dev/outbox' || request.method !== 'GET') return undefined;
    return mail.latestInOutbox().then((mails) => outboxAnswer(mails, request.headers.get('accept') ?? ''));
  });
}

type OutboxMail = Awaited<ReturnType<MailService['latestInOutbox']>>[number];

function outboxAnswer(mails: OutboxMail[], accept: string): Answer {
  const headers = { 'cache-control': 'no-store', 'x-robots-tag': 'noindex' };
  if (accept.includes('application/json')) {
    return { status: 200, headers: { ...headers, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ mails }) };
  }
  const items = mails
    .map(
      (m) =>
        `<article><h2>${escapeHtml(m.subject)}</h2><p class="meta">to ${escapeHtml(m.to)} · ${m.createdAt.toISOString()} · ${escapeHtml(m.template)}</p>` +
        `<iframe title="${escapeHtml(m.subject)}" sandbox="allow-top-navigation-by-user-activation allow-popups" srcdoc="${escapeHtml(linksOpenInTopWindow(m.html))}"></iframe>` +
        `<pre>${textWithLinks(m.text)}</pre></article>`,
    )
    .join('');
  return {
    status: 200,
    headers: {
      ...headers,
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'",
    },
    body:
      `<!doctype html><html><head><meta charset="utf-8"><title>Dev outbox · Portcullis</title><style>` +
      `body{font-family:system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem}article{border:1px solid #ddd;border-radius:8px;padding:1rem;margin:1rem 0}` +
      `.meta{color:#666;font-size:.85rem}iframe{width:100%;height:320px;border:0}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}</style></head>` +
      `<body><h1>Dev outbox</h1><p>Mails are stored here because no SENDGRID_API_KEY is set. Newest first.</p>${items || '<p>No mail yet.</p>'}</body></html>`,
  };
}
