import type { Clock } from '../../src/platform/clock.ts';

/** A clock tests move by hand, so expiry is tested without sleeping. */
export class FakeClock implements Clock {
  private current: number;

  constructor(start = Date.parse('2026-01-15T12:00:00.000Z')) {
    this.current = start;
  }

  now(): Date {
    return new Date(this.current);
  }

  advance(ms: number): void {
    this.current += ms;
  }

  set(date: Date): void {
    this.current = date.getTime();
  }
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
