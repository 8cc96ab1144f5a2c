import { describe, expect, it } from 'vitest';
import { ipRateLimitKey } from '../../src/platform/client-ip.ts';

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
