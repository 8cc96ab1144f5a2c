import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Db } from '../platform/db.ts';
import type { Services } from '../core.ts';
import type { Viewer } from '../modules/sessions/sessions.service.ts';
import type { ClientInfo } from '../kernel/client.ts';

/** What every resolver sees. Built once per operation, on every transport. */
export interface GraphQLContext {
  requestId: string;
  viewer: Viewer | null;
  client: ClientInfo;
  services: Services;
  /** Only for the Pothos Prisma plugin; resolvers go through `services`. */
  db: Db;
  /** Set or clear the session cookie on the HTTP response (no-op unless SESSION_COOKIE=true). */
  setSessionCookie(token: string | null, expiresAt?: Date): void;
}

/** What a WebSocket operation brings instead of an HTTP request: resolved at connection_init. */
export interface SocketOperation {
  requestId: string;
  viewer: Viewer | null;
  client: ClientInfo;
}

export interface ServerContext {
  req: IncomingMessage;
  res?: ServerResponse;
  socketOperation?: SocketOperation;
}
