// Waiting for something that happens in the background (a mail job, a socket event, a metric),
// without a fixed sleep: poll until it is there, fail with a sentence when it never comes.

/**
 * Polls `probe` until it returns something other than undefined, null or false, and resolves with that;
 * rejects naming `what` after `timeoutMs`.
 */
export async function eventually<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 3000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
