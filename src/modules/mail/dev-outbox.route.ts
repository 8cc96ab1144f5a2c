import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MailService } from './mail.service.ts';

// GET /dev/outbox: the latest mails of the dev outbox, as a page to click links in, or as JSON
// (Accept: application/json) for scripts and tests. Served only while config.devOutbox is on (never
// in production; else a loopback PUBLIC_URL or DEV_OUTBOX=true), as anyone who reaches it can sign
// in as whoever was mailed a link.

const escape = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export async function serveDevOutbox(req: IncomingMessage, res: ServerResponse, mail: MailService): Promise<void> {
  const mails = await mail.latestInOutbox();
  const headers = { 'cache-control': 'no-store', 'x-robots-tag': 'noindex' };
  if ((req.headers.accept ?? '').includes('application/json')) {
    res.writeHead(200, { ...headers, 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ mails }));
    return;
  }
  const items = mails
    .map(
      (m) => `<article><h2>${escape(m.subject)}</h2><p class="meta">to ${escape(m.to)} · ${m.createdAt.toISOString()} · ${escape(m.template)}</p>` +
        `<iframe sandbox="allow-top-navigation-by-user-activation allow-popups" srcdoc="${escape(m.html)}"></iframe><pre>${escape(m.text)}</pre></article>`,
    )
    .join('');
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'",
  });
  res.end(
    `<!doctype html><html><head><meta charset="utf-8"><title>Dev outbox · Portcullis</title><style>` +
      `body{font-family:system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem}article{border:1px solid #ddd;border-radius:8px;padding:1rem;margin:1rem 0}` +
      `.meta{color:#666;font-size:.85rem}iframe{width:100%;height:320px;border:0}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}</style></head>` +
      `<body><h1>Dev outbox</h1><p>Mails are stored here because no SENDGRID_API_KEY is set. Newest first.</p>${items || '<p>No mail yet.</p>'}</body></html>`,
  );
}
