import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';

// SSRF guard of webhook URLs: a receiver must be a public address unless WEBHOOK_ALLOW_PRIVATE.
// Checked when a URL is saved, and again at every delivery on the address actually connected to
// (a name that resolved to a public address yesterday may resolve to 127.0.0.1 today).

const v4Bytes = (address: string): number[] => address.split('.').map(Number);

function v6Bytes(address: string): number[] | null {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const [a, b, c, d] = v4Bytes(dotted[1]!);
    text = `${text.slice(0, -dotted[1]!.length)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return null;
  const groups = [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => Number.parseInt(g, 16));
  if (groups.some((g) => Number.isNaN(g) || g < 0 || g > 0xffff)) return null;
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

function forbiddenV4([a, b, c]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    a! >= 224 || // unspecified, private, loopback, multicast and reserved
    (a === 100 && b! >= 64 && b! < 128) || // shared address space (carrier NAT)
    (a === 169 && b === 254) || // link-local (cloud metadata)
    (a === 172 && b! >= 16 && b! < 32) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && c === 0) ||
    (a === 198 && (b === 18 || b === 19))
  );
}

/** Whether a receiver at `address` (an IP literal) could reach inside the network. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address.replace(/^\[|\]$/g, ''));
  if (family === 4) return forbiddenV4(v4Bytes(address));
  if (family !== 6) return true;
  const b = v6Bytes(address.replace(/^\[|\]$/g, ''));
  if (!b) return true;
  const zeros = (n: number) => b.slice(0, n).every((x) => x === 0);
  if (zeros(10) && b[10] === 0xff && b[11] === 0xff) return forbiddenV4(b.slice(12)); // IPv4-mapped
  if (zeros(12)) return true; // ::, ::1 and the old IPv4-compatible form
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.slice(4, 12).every((x) => x === 0)) return forbiddenV4(b.slice(12)); // NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return forbiddenV4(b.slice(2, 6)); // 6to4
  return (
    (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) || // link-local
    (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) || // site-local (deprecated)
    (b[0]! & 0xfe) === 0xfc || // unique local
    b[0] === 0xff // multicast
  );
}

export class ForbiddenTargetError extends Error {}

/** The addresses `hostname` resolves to, refused when any is private (one could be picked at connect). */
export async function resolvePublic(hostname: string, allowPrivate: boolean): Promise<Array<{ address: string; family: number }>> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(bare)
    ? [{ address: bare, family: isIP(bare) }]
    : await new Promise<Array<{ address: string; family: number }>>((resolve, reject) =>
        dnsLookup(bare, { all: true }, (err, found) => (err ? reject(new ForbiddenTargetError(`the host ${bare} does not resolve`)) : resolve(found))),
      );
  if (!allowPrivate && (!addresses.length || addresses.some((a) => isForbiddenAddress(a.address)))) {
    throw new ForbiddenTargetError('the URL points at a loopback, private or reserved address');
  }
  return addresses;
}

/** A `lookup` for http.request that connects only to the address it checked. */
export function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolvePublic(hostname, allowPrivate).then(
      (addresses) => {
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: Error) => callback(Object.assign(err, { code: 'EFORBIDDEN' }), '', 0),
    );
  };
}
