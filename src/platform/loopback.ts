// Plain http is accepted for a URL we call out to only when the request cannot leave the machine:
// development and tests run their identity providers on loopback; anything else must be https.

export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** https anywhere, or http on a loopback host. */
export function isSecureOrLoopbackUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHostname(url.hostname));
}

/** True for an http URL on loopback: the only case where TLS checks may be relaxed. */
export function isPlainLoopbackUrl(raw: string): boolean {
  const url = new URL(raw);
  return url.protocol === 'http:' && isLoopbackHostname(url.hostname);
}
