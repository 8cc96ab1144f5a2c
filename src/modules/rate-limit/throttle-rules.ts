import type { ThrottlePolicy } from '../../config/policies.ts';
// How failures of one proof (a password, an email code) are counted per address, known or not.
// A pure state machine: the store (throttle.ts) keeps one state per (scope, address) and applies
// `admit` under a row lock, so parallel attempts are counted exactly.
//
// An attempt is counted as a failure when it is admitted, before its result is known (a guess
// sent in parallel cannot slip past the budget); a success gives the failure back (`release`) or,
// for a proof that settles the question (a right password), clears the whole state.

export interface ThrottleState {
  failures: number;
  windowStartedAt: Date;
  blockedUntil: Date | null;
}

export type Admission = { allowed: true; state: ThrottleState } | { allowed: false; retryAfter: number };

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** The wait that the `failures`-th failure imposes on the next attempt (0 while failures are free). */
export function backoffDelayMs(failures: number, backoff: NonNullable<ThrottlePolicy['backoff']>): number {
  const over = failures - backoff.freeFailures;
  if (over < 0) return 0;
  // 2 ** over grows past any maxMs long before it overflows; the cap keeps it bounded anyway.
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(over, 30));
}

/** Whether an attempt may run at `now`; when it may, the state with this attempt counted as a failure. */
export function admit(current: ThrottleState | null, now: Date, policy: ThrottlePolicy): Admission {
  const fresh = !current || now.getTime() >= current.windowStartedAt.getTime() + policy.windowMs;
  const state: ThrottleState = fresh ? { failures: 0, windowStartedAt: now, blockedUntil: null } : current;
  if (state.blockedUntil && state.blockedUntil > now) {
    return { allowed: false, retryAfter: seconds(state.blockedUntil.getTime() - now.getTime()) };
  }
  if (policy.limit !== undefined && state.failures >= policy.limit) {
    return { allowed: false, retryAfter: seconds(state.windowStartedAt.getTime() + policy.windowMs - now.getTime()) };
  }
  const failures = state.failures + 1;
  const delay = policy.backoff ? backoffDelayMs(failures, policy.backoff) : 0;
  return {
    allowed: true,
    state: { failures, windowStartedAt: state.windowStartedAt, blockedUntil: delay ? new Date(now.getTime() + delay) : null },
  };
}
