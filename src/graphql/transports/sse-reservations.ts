import { randomBytes } from 'node:crypto';
import type { RealtimeLimits } from '../../config/policies.ts';
import { transportErrors as errors } from './transport-errors.ts';
import { clientKey } from './connection-limits.ts';

// The streams of graphql-sse's single-connection mode as this server hands them out. A PUT
// reserves one under a token minted here (32 random bytes, base64url), never one the caller
// chose; a GET (or POST) with `Accept: text/event-stream` and the token opens it. A client address
// holds a few streams, reserved or open; a reservation not opened in time is released through the
// graphql-sse handler itself (`release`), so the handler's table never keeps what this one dropped.
// Operations are counted per stream before the handler sees them: a few open at once, and a bound
// over the stream's life, since the handler keeps the id of every operation refused after it
// recorded it (validation, credentials) until the stream ends.

/** What `randomBytes(32).toString('base64url')` looks like; anything else is not one of ours. */
const STREAM_TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** Longer operation ids are refused: the handler may keep an id as long as the stream lives. */
const MAX_OPERATION_ID_CHARS = 128;

interface Stream {
  key: string;
  open: boolean;
  /** Being released by the server: neither the client nor anyone else may open it any more. */
  releasing: boolean;
  expiry?: NodeJS.Timeout;
  /** The operations running on the stream, one mark per POST (ids may be reused once ended). */
  operations: Set<object>;
  /** Operations started over the stream's life, those refused after they were counted included. */
  started: number;
}

interface Deps {
  limits: RealtimeLimits;
  /** Makes the graphql-sse handler drop the reserved stream of `token` (and what it holds). */
  release: (token: string) => Promise<void>;
  onReleaseError: (err: unknown) => void;
}

export function createStreamReservations({ limits, release, onReleaseError }: Deps) {
  const streams = new Map<string, Stream>();
  const perAddress = new Map<string, number>();
  let reserved = 0;

  function forget(token: string, stream: Stream): void {
    if (streams.get(token) !== stream) return;
    streams.delete(token);
    clearTimeout(stream.expiry);
    if (!stream.open) reserved--;
    const count = (perAddress.get(stream.key) ?? 1) - 1;
    if (count > 0) perAddress.set(stream.key, count);
    else perAddress.delete(stream.key);
  }

  function expire(token: string, stream: Stream): void {
    if (stream.open || streams.get(token) !== stream) return;
    stream.releasing = true;
    release(token)
      .catch(onReleaseError)
      .finally(() => forget(token, stream));
  }

  return {
    /** A new stream token for the client at `ip`; RATE_LIMITED (nothing reserved) past the caps. */
    reserve(ip: string | null): string {
      const key = clientKey(ip);
      if ((perAddress.get(key) ?? 0) >= limits.maxSseStreamsPerAddress) {
        throw errors.streamsPerAddress(limits.sseReservationTtlMs / 1000);
      }
      if (reserved >= limits.maxSseReservations) throw errors.streamsReserved(limits.sseReservationTtlMs / 1000);
      const token = randomBytes(32).toString('base64url');
      const stream: Stream = { key, open: false, releasing: false, operations: new Set(), started: 0 };
      stream.expiry = setTimeout(() => expire(token, stream), limits.sseReservationTtlMs);
      stream.expiry.unref();
      streams.set(token, stream);
      perAddress.set(key, (perAddress.get(key) ?? 0) + 1);
      reserved++;
      return token;
    },

    /**
     * Checks the token a request names: BAD_USER_INPUT when it is not one this server could have
     * minted (whatever its size, it is compared and dropped), NOT_FOUND when unknown or expired.
     * The server's own release passes (`internal`).
     */
    check(token: string, { internal = false } = {}): void {
      if (!STREAM_TOKEN.test(token)) throw errors.streamTokenInvalid();
      const stream = streams.get(token);
      if (!stream || (stream.releasing && !internal)) throw errors.streamNotFound();
    },

    /**
     * The stream of `token` is being opened: it no longer expires, and is forgotten when
     * `onClosed` calls back (the connection carrying it has ended). Returns false when the stream
     * is already open or being released (the handler then answers by itself).
     */
    opening(token: string, onClosed: (forget: () => void) => void): boolean {
      const stream = streams.get(token);
      if (!stream || stream.open || stream.releasing) return false;
      stream.open = true;
      reserved--;
      clearTimeout(stream.expiry);
      onClosed(() => forget(token, stream));
      return true;
    },

    /**
     * Counts an operation with the id `id` on the stream of `token`, before the handler records it.
     * BAD_USER_INPUT for an overlong id, RATE_LIMITED (nothing counted) past the stream's caps.
     * Returns what ends it: call it once the operation is refused, answered or complete.
     */
    startOperation(token: string, id: string): () => void {
      if (id.length > MAX_OPERATION_ID_CHARS) {
        throw errors.operationIdTooLong(MAX_OPERATION_ID_CHARS);
      }
      const stream = streams.get(token);
      if (!stream || stream.releasing) throw errors.streamNotFound();
      if (stream.operations.size >= limits.maxOpenOperationsPerSseStream) {
        throw errors.operationsPerStream(limits.maxOpenOperationsPerSseStream);
      }
      if (stream.started >= limits.maxOperationsPerSseStreamLifetime) {
        throw errors.streamSpent();
      }
      stream.started++;
      const mark = {};
      stream.operations.add(mark);
      return () => void stream.operations.delete(mark);
    },

    /** Drops every timer (the server is closing). */
    clear(): void {
      for (const stream of streams.values()) clearTimeout(stream.expiry);
    },
  };
}

export type StreamReservations = ReturnType<typeof createStreamReservations>;
