import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

// A graphql-ws client for the tests and the benchmarks.

export interface WsConnection {
  client: Client;
  /** Resolves with the close event's code once the socket has closed. */
  closed: Promise<number>;
  /** Runs a query or mutation and resolves with its single result. */
  request<T = any>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: any[] }>;
  dispose(): Promise<void>;
}

/** A real graphql-ws client on `${httpUrl}/graphql`, connected eagerly, never retrying. */
export function connectWs(
  httpUrl: string,
  options: { token?: string; headers?: Record<string, string>; connectionParams?: Record<string, unknown> } = {},
): WsConnection {
  let resolveClosed!: (code: number) => void;
  const closed = new Promise<number>((resolve) => (resolveClosed = resolve));
  class HeaderWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers: options.headers });
    }
  }
  const client = createClient({
    url: `${httpUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: HeaderWebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: options.connectionParams ?? (options.token ? { authorization: `Bearer ${options.token}` } : {}),
    on: { closed: (event) => resolveClosed((event as { code: number }).code) },
    onNonLazyError: () => {},
  });
  return {
    client,
    closed,
    request: (query, variables) =>
      new Promise((resolve, reject) => {
        let result: { data?: any; errors?: any[] } | undefined;
        client.subscribe(
          { query, variables },
          {
            next: (value) => (result = value as typeof result),
            error: (err) => (Array.isArray(err) ? resolve({ errors: err }) : reject(err)),
            complete: () => resolve(result ?? {}),
          },
        );
      }),
    dispose: async () => {
      await client.dispose();
    },
  };
}
