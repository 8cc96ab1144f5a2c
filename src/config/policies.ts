import { availableParallelism } from 'node:os';

// The policies behind the settings: their shapes and defaults. Most have no environment variable;
// a deployment keeps the defaults, and tests adjust them through the parsed Config.

export interface SessionPolicy {
  idleTimeoutMs: number;
  absoluteLifetimeMs: number;
  /** lastSeenAt (and the idle expiry) is written at most this often. */
  touchIntervalMs: number;
}

export interface PasswordPolicy {
  minLength: number;
  maxLength: number;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  /** Hashes computed at once; the rest wait their turn so a login storm cannot starve the box. */
  maxConcurrentHashes: number;
}

/** Failures counted per address (known or not): failed passwords throttle, they never lock. */
export interface ThrottlePolicies {
  /** Failed passwords: a few free, then a growing wait before the next attempt. */
  password: ThrottlePolicy;
  /** Wrong email codes across codes, besides the tries of each code: per hour and per day. */
  emailCodeHourly: ThrottlePolicy;
  emailCodeDaily: ThrottlePolicy;
  /** Wrong second-factor codes per account, across its sessions (each pending session also ends at five). */
  secondFactor: ThrottlePolicy;
}

/** Lifetimes and budgets of one-time secrets (DESIGN.md). */
export interface TokenPolicy {
  magicLinkTtlMs: number;
  emailCodeTtlMs: number;
  /** Wrong codes before a code is burned. */
  emailCodeMaxAttempts: number;
  passwordResetTtlMs: number;
  emailVerificationTtlMs: number;
  oauthCodeTtlMs: number;
  /** From startOAuth to the callback (state, nonce, PKCE verifier). */
  oauthAttemptTtlMs: number;
}

export interface QueuePolicy {
  retryLimit: number;
  retryDelaySeconds: number;
  retryBackoff: boolean;
  pollingIntervalSeconds: number;
  /** A job whose worker sends no heartbeat for this long (it died) is failed and retried (at least 10). */
  heartbeatSeconds: number;
  /** The most a job may stay active, heartbeats or not, before it is failed and retried. */
  expireInSeconds: number;
  /** How often missed heartbeats and expiries are looked for. */
  superviseIntervalSeconds: number;
}

export interface GraphQLLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  maxTokens: number;
  /** Longer GraphQL documents are refused (413) before they are parsed. */
  maxDocumentChars: number;
  /** Larger request bodies are refused with 413 before they are read. */
  maxBodyBytes: number;
}

/** Caps of the realtime transports (README "Realtime"); IPv6 addresses count by their /64. */
export interface RealtimeLimits {
  /** Operations open at once on one WebSocket, live subscriptions included; more get RATE_LIMITED. */
  maxOperationsPerSocket: number;
  /** Open WebSockets per client address; more are refused at the upgrade with HTTP 429. */
  maxSocketsPerAddress: number;
  /** Messages one socket may send per window; past them it is closed with 4429. */
  maxMessagesPerWindow: number;
  messageWindowMs: number;
  /** How long a socket's view of its session (watched for revocations) is trusted at a subscribe. */
  sessionRecheckMs: number;
  /** Single-connection SSE streams, reserved or open, per client address. */
  maxSseStreamsPerAddress: number;
  /** Reserved, not yet opened single-connection SSE streams, all addresses together. */
  maxSseReservations: number;
  /** A reserved stream not opened within this is released. */
  sseReservationTtlMs: number;
  /** Operations open at once on one single-connection SSE stream, live subscriptions included. */
  maxOpenOperationsPerSseStream: number;
  /** Operations one single-connection SSE stream may start over its life, refused ones included. */
  maxOperationsPerSseStreamLifetime: number;
  /** Open distinct-connection SSE streams (POST or GET with `Accept: text/event-stream`) per client address. */
  maxDistinctSseStreamsPerAddress: number;
}

const DAY = 24 * 60 * 60 * 1000;

export const defaultSessionPolicy: SessionPolicy = {
  idleTimeoutMs: 7 * DAY,
  absoluteLifetimeMs: 30 * DAY,
  touchIntervalMs: 60 * 1000,
};

export const defaultPasswordPolicy: PasswordPolicy = {
  minLength: 8,
  maxLength: 256,
  argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
  // One hash per core: more only queue inside libuv's pool (argon2 is memory bound), starving the
  // DNS, crypto and zlib work that shares it; fewer leave a core idle during a login storm.
  maxConcurrentHashes: Math.max(1, availableParallelism()),
};

export const defaultThrottlePolicies: ThrottlePolicies = {
  password: { windowMs: DAY, backoff: { freeFailures: 5, baseMs: 30 * 1000, maxMs: 15 * 60 * 1000 } },
  emailCodeHourly: { windowMs: 60 * 60 * 1000, limit: 10 },
  emailCodeDaily: { windowMs: DAY, limit: 20 },
  secondFactor: { windowMs: DAY, limit: 20, backoff: { freeFailures: 5, baseMs: 30 * 1000, maxMs: 15 * 60 * 1000 } },
};

export const defaultGraphQLLimits: GraphQLLimits = {
  maxDepth: 10,
  maxAliases: 15,
  maxCost: 5000,
  maxTokens: 1000,
  maxDocumentChars: 10_000,
  maxBodyBytes: 100 * 1024,
};

export const defaultRealtimeLimits: RealtimeLimits = {
  maxOperationsPerSocket: 20,
  maxSocketsPerAddress: 50,
  maxMessagesPerWindow: 100,
  messageWindowMs: 10_000,
  sessionRecheckMs: 30_000,
  maxSseStreamsPerAddress: 10,
  maxSseReservations: 10_000,
  sseReservationTtlMs: 30_000,
  maxOpenOperationsPerSseStream: 20,
  maxOperationsPerSseStreamLifetime: 1_000,
  maxDistinctSseStreamsPerAddress: 10,
};

const MINUTE = 60 * 1000;

export const defaultTokenPolicy: TokenPolicy = {
  magicLinkTtlMs: 10 * MINUTE,
  emailCodeTtlMs: 10 * MINUTE,
  emailCodeMaxAttempts: 5,
  passwordResetTtlMs: 15 * MINUTE,
  emailVerificationTtlMs: 24 * 60 * MINUTE,
  oauthCodeTtlMs: MINUTE,
  oauthAttemptTtlMs: 10 * MINUTE,
};

export const defaultQueuePolicy: QueuePolicy = {
  retryLimit: 5,
  retryDelaySeconds: 5,
  retryBackoff: true,
  pollingIntervalSeconds: 2,
  heartbeatSeconds: 10,
  expireInSeconds: 15 * 60,
  superviseIntervalSeconds: 2,
};

/** Webhook delivery (API.md "Webhooks"); tests shorten the waits. */
export interface WebhookPolicy {
  /** Wait before each retry, after the first, second… failed attempt. */
  retryDelaysMs: number[];
  /** Past those, a retry this often until `giveUpAfterMs` from the event. */
  repeatEveryMs: number;
  giveUpAfterMs: number;
  /** A webhook failing for this long without a success is disabled. */
  disableAfterMs: number;
  /** One request, connection to last byte read. */
  timeoutMs: number;
  /** Response bytes read at most (the rest is dropped). */
  maxResponseBytes: number;
  /** A claimed delivery not settled within this (its worker died) is sent again. */
  claimMs: number;
  /** Delivery workers per process (each takes two jobs at once). */
  workers: number;
}

const HOUR = 60 * MINUTE;

export const defaultWebhookPolicy: WebhookPolicy = {
  retryDelaysMs: [5_000, 30_000, 2 * MINUTE, 10 * MINUTE, HOUR],
  repeatEveryMs: 3 * HOUR,
  giveUpAfterMs: DAY,
  disableAfterMs: 3 * DAY,
  timeoutMs: 10_000,
  maxResponseBytes: 4096,
  claimMs: 60_000,
  workers: 4,
};

/** Access tokens (JWT) for other services (README "Access tokens"). */
export interface AccessTokenPolicy {
  /** ACCESS_TOKEN_TTL: how long a token lives; a revoked session's tokens still work this long. */
  ttlMs: number;
}

export const defaultAccessTokenPolicy: AccessTokenPolicy = { ttlMs: 300_000 };

/** Passkeys (WebAuthn): how long a ceremony may take, and how many passkeys an account may hold. */
export interface PasskeyPolicy {
  /** A challenge is used once, within this long after it was handed out. */
  challengeTtlMs: number;
  maxPerUser: number;
}

export const defaultPasskeyPolicy: PasskeyPolicy = { challengeTtlMs: 5 * MINUTE, maxPerUser: 20 };

export interface ThrottlePolicy {
  /** Failures are forgotten this long after the first one of the window. */
  windowMs: number;
  /** At most this many failures per window; past it every attempt is refused until the window ends. */
  limit?: number;
  /** Past `freeFailures`, each failure makes the next attempt wait: baseMs, then doubling, up to maxMs. */
  backoff?: { freeFailures: number; baseMs: number; maxMs: number };
}
