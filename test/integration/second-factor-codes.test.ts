import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { MINUTE } from '../helpers/clock.ts';
import { COMPLETE, ME, REGENERATE, codeAt, codeOf, enrolledUser, nextStep, passwordLogin } from '../helpers/second-factor.ts';

// Issue 15: recovery codes (each once, counted down, voided by a new set), clock drift (one step
// either way, not two, on the fake clock), five wrong codes ending a pending session, and wrong
// codes counted per account across sessions (security checklist 59).

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const left = async (token: string) => (await t.gql(ME, {}, { token })).body.data.me.recoveryCodesLeft;
const sessionRow = async (id: string) =>
  (
    await t.db.query<{ revokeReason: string | null; secondFactorFailures: number }>(
      `SELECT "revokeReason", "secondFactorFailures" FROM "Session" WHERE id = $1`,
      [id],
    )
  )[0]!;

describe('recovery codes', () => {
  it('each works once, the count goes down, and a new set voids the old one', async () => {
    const email = 'recovery-2fa@example.com';
    const { token, codes } = await enrolledUser(t, email);
    expect(await left(token)).toBe(10);

    const first = await passwordLogin(t, email);
    const used = await t.gql(COMPLETE, { recoveryCode: codes[0] }, { token: first.token });
    expect(used.body.data.completeSecondFactor).toMatchObject({ secondFactorRequired: false, session: { secondFactor: 'RECOVERY_CODE' } });
    expect(await left(token)).toBe(9);

    const second = await passwordLogin(t, email);
    expect(codeOf(await t.gql(COMPLETE, { recoveryCode: codes[0] }, { token: second.token }))).toBe('TOKEN_INVALID');
    // Case, spaces and the dash do not matter.
    const loose = ` ${codes[1]!.toUpperCase().replace('-', ' ')} `;
    expect((await t.gql(COMPLETE, { recoveryCode: loose }, { token: second.token })).body.data.completeSecondFactor.secondFactorRequired).toBe(false);
    expect(await left(token)).toBe(8);

    // Both or neither of code and recoveryCode: BAD_USER_INPUT, not counted.
    const third = await passwordLogin(t, email);
    expect(codeOf(await t.gql(COMPLETE, { code: '123456', recoveryCode: codes[2] }, { token: third.token }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(COMPLETE, {}, { token: third.token }))).toBe('BAD_USER_INPUT');

    // A new set, proven with a recovery code: ten again, the old ones void.
    const regenerated = await t.gql(REGENERATE, { code: codes[2] }, { token });
    const fresh: string[] = regenerated.body.data.regenerateRecoveryCodes.codes;
    for (const code of fresh) t.rememberSecret(code);
    expect(fresh).toHaveLength(10);
    expect(fresh.some((code) => codes.includes(code))).toBe(false);
    expect(await left(token)).toBe(10);
    expect(codeOf(await t.gql(COMPLETE, { recoveryCode: codes[3] }, { token: third.token }))).toBe('TOKEN_INVALID');
    expect((await t.gql(COMPLETE, { recoveryCode: fresh[0] }, { token: third.token })).body.data.completeSecondFactor.secondFactorRequired).toBe(false);
    expect(await left(token)).toBe(9);
    // A wrong proof regenerates nothing.
    expect(codeOf(await t.gql(REGENERATE, { code: codes[4] }, { token }))).toBe('TOKEN_INVALID');
    expect(await left(token)).toBe(9);
  });
});

describe('clock drift', () => {
  it('accepts a code of the previous or the next 30 s step, not two steps away', async () => {
    const email = 'drift-2fa@example.com';
    const { secret } = await enrolledUser(t, email);
    t.clock.advance(10 * MINUTE); // far past the step that confirmed the enrolment
    nextStep(t.clock);
    t.clock.advance(15_000); // mid-step: two steps away is a full minute off either way

    const pending = await passwordLogin(t, email);
    for (const steps of [-2, 2]) {
      expect(codeOf(await t.gql(COMPLETE, { code: codeAt(secret, t.clock, steps) }, { token: pending.token })), `${steps} steps`).toBe('TOKEN_INVALID');
    }
    const previous = await t.gql(COMPLETE, { code: codeAt(secret, t.clock, -1) }, { token: pending.token });
    expect(previous.body.data.completeSecondFactor.secondFactorRequired).toBe(false);

    const later = await passwordLogin(t, email);
    const next = await t.gql(COMPLETE, { code: codeAt(secret, t.clock, 1) }, { token: later.token });
    expect(next.body.data.completeSecondFactor.secondFactorRequired).toBe(false);
    // The current step is now older than the last one accepted: replaying time backwards fails too.
    const after = await passwordLogin(t, email);
    expect(codeOf(await t.gql(COMPLETE, { code: codeAt(secret, t.clock) }, { token: after.token }))).toBe('TOKEN_INVALID');
  });
});

describe('wrong codes', () => {
  it('five on a pending session revoke it (SECOND_FACTOR_FAILED); its token is then UNAUTHENTICATED', async () => {
    const email = 'five-2fa@example.com';
    const { secret } = await enrolledUser(t, email);
    nextStep(t.clock);
    const pending = await passwordLogin(t, email);
    const wrong = String((Number(codeAt(secret, t.clock)) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 1; i <= 4; i++) {
      expect(codeOf(await t.gql(COMPLETE, { code: wrong }, { token: pending.token }))).toBe('TOKEN_INVALID');
      expect(await sessionRow(pending.sessionId)).toEqual({ revokeReason: null, secondFactorFailures: i });
    }
    expect(codeOf(await t.gql(COMPLETE, { code: wrong }, { token: pending.token }))).toBe('TOKEN_INVALID');
    expect((await sessionRow(pending.sessionId)).revokeReason).toBe('SECOND_FACTOR_FAILED');
    // Even the right code is too late, and me says the token is dead.
    expect(codeOf(await t.gql(COMPLETE, { code: codeAt(secret, t.clock) }, { token: pending.token }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(ME, {}, { token: pending.token }))).toBe('UNAUTHENTICATED');
  });

  it('count per account across sessions: past the budget even a right code waits (RATE_LIMITED)', async () => {
    const email = 'budget-2fa@example.com';
    const { secret } = await enrolledUser(t, email);
    nextStep(t.clock);
    const wrong = (s: number) => String((Number(codeAt(secret, t.clock)) + s) % 1_000_000).padStart(6, '0');
    const one = await passwordLogin(t, email);
    const two = await passwordLogin(t, email);
    for (let i = 1; i <= 3; i++) expect(codeOf(await t.gql(COMPLETE, { code: wrong(i) }, { token: one.token }))).toBe('TOKEN_INVALID');
    for (let i = 4; i <= 5; i++) expect(codeOf(await t.gql(COMPLETE, { code: wrong(i) }, { token: two.token }))).toBe('TOKEN_INVALID');
    // Neither session reached five, yet the account has.
    const limited = await t.gql(COMPLETE, { code: codeAt(secret, t.clock) }, { token: two.token });
    expect(codeOf(limited)).toBe('RATE_LIMITED');
    expect(limited.body.errors![0]!.extensions.retryAfter).toBeGreaterThan(0);
    expect((await sessionRow(two.sessionId)).revokeReason).toBeNull();

    t.clock.advance(limited.body.errors![0]!.extensions.retryAfter * 1000);
    const done = await t.gql(COMPLETE, { code: codeAt(secret, t.clock) }, { token: two.token });
    expect(done.body.data.completeSecondFactor.secondFactorRequired).toBe(false);
  });
});
