import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// Issue 20: /metrics counts registrations (by method), failed one-time tokens (by purpose and
// reason) and the sessions alive now (a gauge counted at scrape time by a capped query), and the
// runtime metrics carry the prefix once.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

async function series(): Promise<Map<string, number>> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  return new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

it('counts registrations by method and the active sessions, revoked ones left out', async () => {
  await t.register('metrics-a@example.com');
  await t.register('metrics-b@example.com');
  const { token } = await t.register('metrics-c@example.com');
  expect((await t.gql('mutation { logout }', {}, { token })).body.data.logout).toBe(true);
  const s = await series();
  expect(s.get('portcullis_registrations_total{method="PASSWORD"}')).toBe(3);
  expect(s.get('portcullis_active_sessions')).toBe(2);
});

it('counts refused mailed links and codes by purpose and reason', async () => {
  const bogus = 'A'.repeat(43);
  const magic = await t.gql('mutation($t: String!) { loginWithMagicLink(input: { email: "nobody@example.com", token: $t }) { token } }', { t: bogus });
  expect(magic.body.errors?.[0]?.extensions.code).toBe('TOKEN_INVALID');
  const reset = await t.gql('mutation($t: String!) { resetPassword(input: { token: $t, newPassword: "long enough password" }) }', { t: bogus });
  expect(reset.body.errors?.[0]?.extensions.code).toBe('TOKEN_INVALID');
  const s = await series();
  expect(s.get('portcullis_token_failures_total{purpose="magic_link",reason="invalid"}')).toBe(1);
  expect(s.get('portcullis_token_failures_total{purpose="password_reset",reason="invalid"}')).toBe(1);
});

it('names the runtime metrics with one prefix', async () => {
  const names = [...(await series()).keys()];
  expect(names).toContain('portcullis_process_cpu_user_seconds_total');
  expect(names.filter((n) => n.includes('process_process'))).toEqual([]);
});
