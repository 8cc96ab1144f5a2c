import { createClient } from 'graphql-sse';

export interface SseSubscription<T> {
  events: T[];
  /** Resolves when the server ends the stream (complete), rejects on a transport error. */
  ended: Promise<void>;
  /** Resolves once `n` events have arrived. */
  waitForEvents(n: number, ms?: number): Promise<T[]>;
  dispose(): void;
}

/** Subscribes with the real graphql-sse client, in distinct-connections mode unless `singleConnection`. */
export function subscribeSse<T = any>(httpUrl: string, query: string, options: { token?: string; singleConnection?: boolean } = {}): SseSubscription<T> {
  const client = createClient({
    url: `${httpUrl}/graphql`,
    singleConnection: options.singleConnection ?? false,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    retryAttempts: 0,
  });
  const events: T[] = [];
  let dispose = () => {};
  const ended = new Promise<void>((resolve, reject) => {
    dispose = client.subscribe<T>(
      { query },
      {
        next: (value) => void events.push(value.data as T),
        error: reject,
        complete: resolve,
      },
    );
  });
  ended.catch(() => {});
  return {
    events,
    ended,
    waitForEvents: async (n, ms = 3000) => {
      const started = Date.now();
      while (events.length < n) {
        if (Date.now() - started > ms) throw new Error(`expected ${n} SSE events, got ${events.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return events;
    },
    dispose: () => {
      dispose();
      client.dispose();
    },
  };
}
