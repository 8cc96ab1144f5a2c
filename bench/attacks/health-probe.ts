import { get, type ClientRequest } from 'node:http';

// GET /health every 50 ms, one probe at a time, each on a new connection (an idle keep-alive one may
// be closed by the server just as a probe is sent): while the server's loop is blocked the probe in
// flight simply waits, and its wait is the figure.

export interface HealthProbe {
  /** Stops probing; the worst latency counts a probe still in flight. */
  stop(): { worstMs: number; probes: number; failures: number };
}

export function probeHealth(url: string, everyMs = 50): HealthProbe {
  let worstMs = 0;
  let probes = 0;
  let failures = 0;
  let inFlightSince: number | undefined;
  let stopped = false;
  let inFlight: ClientRequest | undefined;

  const settle = (ok: boolean) => {
    if (stopped || inFlightSince === undefined) return;
    worstMs = Math.max(worstMs, performance.now() - inFlightSince);
    if (!ok) failures++;
    inFlightSince = undefined;
  };
  const timer = setInterval(() => {
    if (inFlightSince !== undefined) return;
    probes++;
    inFlightSince = performance.now();
    inFlight = get(`${url}/health`, { agent: false }, (res) => {
      res.resume();
      res.once('end', () => settle(res.statusCode === 200));
    }).once('error', () => settle(false));
  }, everyMs);

  return {
    stop() {
      clearInterval(timer);
      if (inFlightSince !== undefined) worstMs = Math.max(worstMs, performance.now() - inFlightSince);
      stopped = true;
      inFlight?.destroy();
      return { worstMs, probes, failures };
    },
  };
}
