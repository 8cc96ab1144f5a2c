import type { Clock } from '../../platform/clock.ts';
import type { Logger } from '../../platform/logger.ts';

// A WebSocket upgrade refused for its Origin (403) is logged, so a page served from an origin
// outside CORS_ORIGINS is diagnosed from the log instead of guessed at. At most one line per origin
// per interval: a page that retries in a loop, or a flood of made-up origins, cannot fill the log.

const LOG_INTERVAL_MS = 60_000;
/** Origins remembered at once; past it the memory starts over (a flood of origins is itself logged). */
const MAX_REMEMBERED = 1_000;

export function createOriginRefusalLog(log: Logger, clock: Clock, allowed: readonly string[]) {
  const lastLogged = new Map<string, number>();
  return (origin: string): void => {
    const now = clock.now().getTime();
    const last = lastLogged.get(origin);
    if (last !== undefined && now - last < LOG_INTERVAL_MS) return;
    if (lastLogged.size >= MAX_REMEMBERED) lastLogged.clear();
    lastLogged.set(origin, now);
    // The origin is what the browser sent: cut to a sane length before it reaches the log.
    log.warn({ origin: origin.slice(0, 200), allowed }, 'websocket refused: Origin not in CORS_ORIGINS (set CORS_ORIGINS or FRONTEND_URL)');
  };
}
