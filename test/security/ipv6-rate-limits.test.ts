import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { metric } from '../helpers/metrics.ts';

// Checklist item 58: per-IP rate limits key IPv6 clients by their /64. A subscriber gets a whole
// /64 and can take any address in it, so behind a trusted proxy, counting per full address would
// give one client 2^64 budgets. IPv4 keeps one budget per address.

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token session { id } } }`;
const PASSWORD = 'correct horse battery';

let t: TestApp;
let attempt = 0;
beforeAll(async () => {
  t = await startTestApp({ env: { TRUST_PROXY: '127.0.0.1', RATE_LIMITS: 'login=3/15m:IP' } });
  await t.register('owner@example.com', PASSWORD);
});
afterAll(() => t.close());

/** One login through the trusted proxy for `ip`: a fresh unknown address unless `email` is given. */
async function loginFrom(ip: string, email = `nobody-${++attempt}@example.com`, password = 'wrong password 1') {
  const r = await t.gql(LOGIN, { input: { email, password } }, { headers: { 'x-forwarded-for': ip } });
  return r.body.errors?.[0]?.extensions.code ?? 'OK';
}

const refusals = () => metric(t, 'portcullis_rate_limited_total', { operation: 'login' });

describe('IPv6 by /64', () => {
  it('ten addresses of one /64, however written, share one per-IP limit', async () => {
    const addresses = [
      '2001:db8:1:2::1',
      '2001:db8:1:2::2',
      '2001:0db8:0001:0002:0000:0000:0000:0003',
      '2001:DB8:1:2:FFFF:FFFF:FFFF:FFFF',
      '2001:db8:1:2:1234:5678:9abc:def0',
      '2001:db8:1:2::a',
      '2001:db8:1:2:0:0:0:b',
      '2001:db8:1:2:dead:beef::',
      '2001:db8:1:2::c',
      '2001:db8:1:2::10.0.0.1',
    ];
    const before = await refusals();
    const codes = [];
    for (const ip of addresses) codes.push(await loginFrom(ip));
    expect(codes).toEqual([...Array(3).fill('UNAUTHENTICATED'), ...Array(7).fill('RATE_LIMITED')]);
    expect(await refusals()).toBe(before + 7);
  });

  it('an address in another /64 has a budget of its own, and its session records the full address', async () => {
    const codes = [];
    for (const ip of ['2001:db8:1:3::1', '2001:db8:1:3::2', '2001:db8:1:3::3', '2001:db8:1:3::4']) codes.push(await loginFrom(ip));
    expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);

    const ip = '2001:db8:1:4::abcd';
    const r = await t.gql(LOGIN, { input: { email: 'owner@example.com', password: PASSWORD } }, { headers: { 'x-forwarded-for': ip } });
    t.rememberSecret(r.body.data.login.token);
    const [session] = await t.db.query('SELECT "ipAddress" FROM "Session" WHERE id = $1', [r.body.data.login.session.id]);
    expect(session).toEqual({ ipAddress: ip });
  });
});

describe('IPv4', () => {
  it('keeps one budget per address, not per network', async () => {
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push(await loginFrom('203.0.113.7'));
    expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
    expect(await loginFrom('203.0.113.8')).toBe('UNAUTHENTICATED');
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4', async () => {
    const codes = [];
    for (const ip of ['::ffff:198.51.100.5', '::ffff:c633:6405', '198.51.100.5', '::ffff:198.51.100.5']) codes.push(await loginFrom(ip));
    expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
  });
});
