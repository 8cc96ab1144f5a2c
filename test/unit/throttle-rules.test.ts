import { describe, expect, it } from 'vitest';
import { admit, backoffDelayMs, type ThrottleState } from '../../src/modules/rate-limit/throttle-rules.ts';
import type { ThrottlePolicy } from '../../src/config/policies.ts';

// The throttle's state machine (src/modules/rate-limit/throttle-rules.ts), without a database.

const T0 = new Date('2026-12-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const backoff = { freeFailures: 5, baseMs: 30_000, maxMs: 15 * 60_000 };
const password: ThrottlePolicy = { windowMs: 24 * 3600_000, backoff };
const hourly: ThrottlePolicy = { windowMs: 3600_000, limit: 10 };

/** Admits `n` attempts at `when`, each counted as a failure; returns the last state. */
function fail(n: number, policy: ThrottlePolicy, when = T0, from: ThrottleState | null = null): ThrottleState {
  let state = from;
  for (let i = 0; i < n; i++) {
    const a = admit(state, when, policy);
    if (!a.allowed) throw new Error(`refused at attempt ${i + 1}`);
    state = a.state;
  }
  return state!;
}

describe('backoff', () => {
  it('is free for the first failures, then doubles from the base up to the cap', () => {
    expect([1, 4].map((f) => backoffDelayMs(f, backoff))).toEqual([0, 0]);
    expect([5, 6, 7, 8, 9, 10].map((f) => backoffDelayMs(f, backoff) / 1000)).toEqual([30, 60, 120, 240, 480, 900]);
    expect(backoffDelayMs(10_000, backoff)).toBe(backoff.maxMs);
  });

  it('lets the free failures through at once and blocks the next attempt with a growing wait', () => {
    const state = fail(5, password);
    expect(state).toMatchObject({ failures: 5, blockedUntil: at(30_000) });
    expect(admit(state, at(1_000), password)).toEqual({ allowed: false, retryAfter: 29 });
    const sixth = admit(state, at(30_000), password);
    expect(sixth).toMatchObject({ allowed: true, state: { failures: 6, blockedUntil: at(90_000) } });
  });

  it('forgets the failures once the window has passed', () => {
    let state = fail(5, password);
    for (let i = 0; i < 4; i++) state = fail(1, password, state.blockedUntil!, state);
    expect(state.failures).toBe(9);
    const next = admit(state, at(password.windowMs), password);
    expect(next).toMatchObject({ allowed: true, state: { failures: 1, windowStartedAt: at(password.windowMs), blockedUntil: null } });
  });
});

describe('limit per window', () => {
  it('refuses every attempt past the limit until the window ends, then starts again', () => {
    const state = fail(10, hourly);
    expect(admit(state, at(59 * 60_000), hourly)).toEqual({ allowed: false, retryAfter: 60 });
    expect(admit(state, at(3600_000), hourly)).toMatchObject({ allowed: true, state: { failures: 1 } });
  });

  it('reports a wait of at least one second', () => {
    const state = fail(10, hourly);
    expect(admit(state, at(3600_000 - 1), hourly)).toEqual({ allowed: false, retryAfter: 1 });
  });

  it('counts from nothing for an address never seen', () => {
    expect(admit(null, T0, hourly)).toEqual({ allowed: true, state: { failures: 1, windowStartedAt: T0, blockedUntil: null } });
  });
});
