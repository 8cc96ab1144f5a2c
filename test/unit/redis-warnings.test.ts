import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.ts';
import { createRedisWarning, REDIS_WARNING_INTERVAL_MS } from '../../src/platform/redis.ts';

// Issue 20: with Redis away, three clients each reported every retry (1,053 lines in 11 minutes).
// One shared warning logs the first error at once, then at most one line a minute with the count.

it('logs the first Redis error, then one line per interval carrying how many it held back', () => {
  const lines: Array<{ msg: string; suppressed: number; err: { message: string } }> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const log = createLogger('warn', sink);
  let now = 1_000_000;
  const warn = createRedisWarning(log, { now: () => now });
  const refused = new Error('connect ECONNREFUSED 127.0.0.1:6379');
  // 11 minutes of three clients failing every 2 s.
  for (let t = 0; t < 11 * 60_000; t += 2_000, now += 2_000) for (let client = 0; client < 3; client++) warn(refused);
  expect(lines.length).toBe(Math.ceil((11 * 60_000) / REDIS_WARNING_INTERVAL_MS));
  expect(lines[0]).toMatchObject({ suppressed: 0, err: { message: refused.message } });
  expect(lines[1]!.suppressed).toBe((REDIS_WARNING_INTERVAL_MS / 2_000) * 3 - 1);
});
