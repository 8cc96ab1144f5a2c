import { ipRateLimitKey } from '../../platform/client-ip.ts';

// Counting for the realtime transports: connections per client address, and a message budget per
// socket. An IPv6 client is counted by its /64, the block a single host or home is usually given,
// so rotating through its addresses does not buy more connections.

/** The key a client address is counted under: the key of every per-address limit (IPv6 by /64). */
export const clientKey = (ip: string | null): string => (ip ? ipRateLimitKey(ip) : 'unknown');

/** Open connections per key, at most `max` each. Keys at zero are forgotten. */
export function createAddressCounter(max: number) {
  const counts = new Map<string, number>();
  return {
    /** Counts one more for `key`, or returns false (counting nothing) when it already holds `max`. */
    tryAcquire(key: string): boolean {
      const count = counts.get(key) ?? 0;
      if (count >= max) return false;
      counts.set(key, count + 1);
      return true;
    },
    release(key: string): void {
      const count = (counts.get(key) ?? 0) - 1;
      if (count > 0) counts.set(key, count);
      else counts.delete(key);
    },
    count: (key: string) => counts.get(key) ?? 0,
  };
}

/**
 * A socket's message budget: `max` messages per window of `windowMs` (a fixed window, counted in
 * process: it is per socket). Returns whether one more message fits.
 */
export function createMessageBudget(max: number, windowMs: number, now: () => number = Date.now): () => boolean {
  let windowStart = now();
  let used = 0;
  return () => {
    const at = now();
    if (at - windowStart >= windowMs) {
      windowStart = at;
      used = 0;
    }
    used++;
    return used <= max;
  };
}
