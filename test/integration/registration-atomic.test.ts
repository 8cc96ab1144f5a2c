import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// The verification mail of a registration is queued in the registration's own transaction: the
// account, its first session, its audit event and its mail commit together or not at all.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const verificationJobs = (email: string) =>
  t.db.query(`SELECT id FROM pgboss.job WHERE name = 'send-mail' AND data->>'template' = 'email-verification' AND data->>'email' = $1`, [email]);

it('a registration that fails after its mail was queued leaves neither the account nor the mail', async () => {
  const { audit } = t.app.services;
  const original = audit.record.bind(audit);
  // The audit row is written after the mail is queued, in the same transaction.
  const spy = vi.spyOn(audit, 'record').mockImplementation(async (event, tx) => {
    if (event.type === 'user.registered') throw new Error('audit store refused the row');
    return original(event, tx);
  });
  const r = await t.gql('mutation { register(input: { email: "atomic@example.com", password: "correct horse battery" }) { token } }');
  spy.mockRestore();
  expect(r.body.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
  expect(await t.db.query(`SELECT id FROM "User" WHERE email = 'atomic@example.com'`)).toHaveLength(0);
  expect(await verificationJobs('atomic@example.com')).toHaveLength(0);
});

it('a registration that commits has exactly one verification mail queued', async () => {
  await t.register('committed@example.com');
  expect(await verificationJobs('committed@example.com')).toHaveLength(1);
});
