import { describe, expect, it } from 'vitest';
import { createClientIpResolver, ipRateLimitKey, parseProxyEntry } from '../../src/platform/client-ip.ts';

// The key per-IP rate limits count under (checklist 58): IPv6 by its /64, whatever the spelling.

describe('ipRateLimitKey', () => {
  it('keeps IPv4 as it is, one key per address', () => {
    expect(ipRateLimitKey('203.0.113.7')).toBe('203.0.113.7');
    expect(ipRateLimitKey('203.0.113.8')).toBe('203.0.113.8');
  });

  it('reads an IPv4-mapped IPv6 address as its IPv4, dotted or in hex', () => {
    expect(ipRateLimitKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(ipRateLimitKey('::FFFF:cb00:7107')).toBe('203.0.113.7');
  });

  it('gives every address of one /64 the same canonical key, however it is written', () => {
    const spellings = [
      '2001:db8::1',
      '2001:0db8:0:0:ffff::2',
      '2001:DB8:0000:0000:FFFF:FFFF:FFFF:FFFF',
      '2001:db8:0:0:1:2:3:4',
      '2001:db8::',
      '2001:db8::abcd:1.2.3.4',
      '2001:db8::1%eth0',
    ];
    for (const ip of spellings) expect(ipRateLimitKey(ip), ip).toBe('2001:db8:0:0::/64');
  });

  it('gives another /64 another key, even when only the fourth group differs', () => {
    expect(ipRateLimitKey('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(ipRateLimitKey('2001:db8:aaaa:bbbb:cccc::')).toBe('2001:db8:aaaa:bbbb::/64');
    expect(ipRateLimitKey('1:2:3:4:5:6:7::')).toBe('1:2:3:4::/64');
    expect(ipRateLimitKey('::1')).toBe('0:0:0:0::/64');
  });

  it('returns what is not an IP address unchanged', () => {
    expect(ipRateLimitKey('unknown')).toBe('unknown');
    expect(ipRateLimitKey('2001:db8::1::2')).toBe('2001:db8::1::2');
  });
});

// Who the client is (createClientIpResolver): the socket's address unless a trusted proxy speaks
// for it, then X-Forwarded-For read from the right, skipping trusted hops.

describe('createClientIpResolver', () => {
  const behindProxy = createClientIpResolver(['10.0.0.0/8', '2001:db8:ffff::1']);

  it('trusts no header without TRUST_PROXY: the socket address is the client', () => {
    const direct = createClientIpResolver([]);
    expect(direct('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    expect(direct('::ffff:203.0.113.7', undefined)).toBe('203.0.113.7');
  });

  it('ignores the header when the socket is not a trusted proxy', () => {
    expect(behindProxy('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
  });

  it('takes the rightmost untrusted hop, so a forged leftmost entry changes nothing', () => {
    expect(behindProxy('10.0.0.2', '198.51.100.1')).toBe('198.51.100.1');
    expect(behindProxy('10.0.0.2', '1.2.3.4, 198.51.100.1, 10.0.0.9')).toBe('198.51.100.1');
    expect(behindProxy('::ffff:10.0.0.2', ' 198.51.100.1 ,10.1.2.3')).toBe('198.51.100.1');
    expect(behindProxy('2001:db8:ffff::1', '2001:db8:1:2::5')).toBe('2001:db8:1:2::5');
  });

  it('skips entries that are not addresses, and falls back when every hop is trusted or none is usable', () => {
    expect(behindProxy('10.0.0.2', '198.51.100.1, garbage, 10.0.0.3')).toBe('198.51.100.1');
    expect(behindProxy('10.0.0.2', '10.0.0.4, 10.0.0.3')).toBe('10.0.0.4');
    expect(behindProxy('10.0.0.2', 'unknown')).toBe('10.0.0.2');
    expect(behindProxy('10.0.0.2', '')).toBe('10.0.0.2');
  });

  it('has no client when the socket address is not an IP', () => {
    expect(behindProxy(undefined, '198.51.100.1')).toBeNull();
    expect(behindProxy('not-an-ip', '198.51.100.1')).toBeNull();
  });

  it('refuses an entry of TRUST_PROXY that is not an address or CIDR', () => {
    expect(() => createClientIpResolver(['10.0.0.0/'])).toThrow(/TRUST_PROXY/);
  });
});

describe('parseProxyEntry', () => {
  it('reads addresses and CIDRs of both families', () => {
    expect(parseProxyEntry('10.0.0.1')).toEqual({ address: '10.0.0.1', prefix: undefined, type: 'ipv4' });
    expect(parseProxyEntry('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, type: 'ipv4' });
    expect(parseProxyEntry('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, type: 'ipv6' });
  });

  it.each([['10.0.0.0/'], ['10.0.0.0/33'], ['2001:db8::/129'], ['example.com'], ['10.0.0.0/8/8'], ['']])('refuses %j', (entry) => {
    expect(parseProxyEntry(entry)).toBeNull();
  });
});
