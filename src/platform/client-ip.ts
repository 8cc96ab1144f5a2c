import { BlockList, isIP } from 'node:net';

// The client address is the socket's, unless the socket belongs to a proxy listed in TRUST_PROXY:
// then X-Forwarded-For is walked from the right, skipping trusted proxies, and the first address
// that is not one of them is the client. Anything else in the header is attacker-controlled.

export type ClientIpResolver = (socketAddress: string | undefined, forwardedFor: string | null | undefined) => string | null;

export function createClientIpResolver(trustProxy: readonly string[]): ClientIpResolver {
  const trusted = new BlockList();
  for (const entry of trustProxy) addEntry(trusted, entry);
  const isTrusted = (ip: string) => {
    const family = isIP(ip);
    return family !== 0 && trusted.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };

  return (socketAddress, forwardedFor) => {
    const peer = normalize(socketAddress);
    if (!peer || !trustProxy.length || !forwardedFor || !isTrusted(peer)) return peer;
    const hops = forwardedFor
      .split(',')
      .map((h) => normalize(h.trim()))
      .filter((h): h is string => !!h);
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!isTrusted(hops[i]!)) return hops[i]!;
    }
    return hops[0] ?? peer;
  };
}

/** An address or CIDR of TRUST_PROXY, or null when the entry is neither (config/env.ts rejects those). */
export function parseProxyEntry(entry: string): { address: string; prefix?: number; type: 'ipv4' | 'ipv6' } | null {
  // The prefix must be written out: "10.0.0.0/" would otherwise read as /0 and trust every address.
  const match = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry);
  const family = match ? isIP(match[1]!) : 0;
  if (!match || !family) return null;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const prefix = match[2] === undefined ? undefined : Number(match[2]);
  if (prefix !== undefined && prefix > (type === 'ipv6' ? 128 : 32)) return null;
  return { address: match[1]!, prefix, type };
}

function addEntry(list: BlockList, entry: string): void {
  const parsed = parseProxyEntry(entry);
  if (!parsed) throw new Error(`TRUST_PROXY: "${entry}" is not an IP address or CIDR`);
  if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.type);
  else list.addSubnet(parsed.address, parsed.prefix, parsed.type);
}

/** "::ffff:10.0.0.1" -> "10.0.0.1"; anything that is not an IP -> null. */
function normalize(ip: string | undefined): string | null {
  if (!ip) return null;
  const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  return isIP(plain) ? plain : null;
}

/**
 * The key every per-IP limit counts under. An IPv6 client usually holds a whole /64 and can pick
 * any address in it, so IPv6 counts per /64, written canonically ("2001:db8:0:0::/64") whatever
 * the spelling of the address; an IPv4-mapped IPv6 address counts as its IPv4, and IPv4 as is.
 * Anything that is not an IP address is returned unchanged.
 */
export function ipRateLimitKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, dotted IPv4 tail allowed). */
function ipv6Groups(ip: string): number[] {
  let address = ip.split('%', 1)[0]!.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    address = `${address.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = address.split('::');
  const start = head ? head.split(':') : [];
  const end = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - start.length - end.length).fill('0');
  return [...start, ...zeros, ...end].map((g) => Number.parseInt(g, 16));
}
