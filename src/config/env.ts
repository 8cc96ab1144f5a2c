import { z } from 'zod';
import { ConfigError } from './config-error.ts';
import { oauthProvider, webauthnOf, type OAuthProviderConfig, type WebauthnConfig } from './providers.ts';
import { parseRuleOverrides, type RateLimitRule } from '../kernel/rate-limit-rules.ts';
import { parseProxyEntry } from '../platform/client-ip.ts';
import { parseKey } from '../platform/encryption.ts';
import { isLoopbackHostname } from '../platform/loopback.ts';

import {
  defaultGraphQLLimits,
  defaultPasswordPolicy,
  defaultQueuePolicy,
  defaultRealtimeLimits,
  defaultSessionPolicy,
  defaultThrottlePolicies,
  defaultTokenPolicy,
  type GraphQLLimits,
  type PasswordPolicy,
  type QueuePolicy,
  type RealtimeLimits,
  type SessionPolicy,
  type ThrottlePolicies,
  type TokenPolicy,
  defaultWebhookPolicy,
  type WebhookPolicy,
} from './policies.ts';
import { defaultAccessTokenPolicy, type AccessTokenPolicy } from './policies.ts';

// One schema for the whole environment (API.md "Environment"). Parsed once at start; a bad value
// stops the start with a message that names the variable.

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v === 'true' || v === '1'));

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const url = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : fallback))
    .pipe(z.url({ protocol: /^https?$/ }))
    .transform((v) => v.replace(/\/+$/, ''));

/** A URL whose default depends on another setting (PORT): undefined when unset, filled in by loadConfig. */
const urlOrUnset = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() ? v.trim() : undefined))
  .pipe(z.url({ protocol: /^https?$/ }).optional())
  .transform((v) => v?.replace(/\/+$/, ''));

const envSchema = z.object({
  NODE_ENV: z.string().optional().default('development'),
  // An empty value means unset (as for every variable here), not port 0.
  PORT: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(65535).default(4000)),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional(),
  REDIS_PREFIX: z.string().min(1).default('portcullis:'),
  // Both default to http://localhost:<PORT>, so the links mailed and the OAuth redirect URI follow PORT.
  PUBLIC_URL: urlOrUnset,
  FRONTEND_URL: urlOrUnset,
  ALLOWED_REDIRECTS: list.pipe(z.array(z.url())),
  CORS_ORIGINS: list,
  MAIL_FROM: z.string().min(3).default('Portcullis <no-reply@localhost>'),
  APP_NAME: z
    .string()
    .optional()
    .transform((v) => v?.trim() || 'Portcullis'),
  SENDGRID_API_KEY: z.string().optional(),
  SENDGRID_API_URL: url('https://api.sendgrid.com'),
  OAUTH_PROVIDERS: list.pipe(z.array(z.string().regex(/^[a-z0-9_-]+$/i, 'provider ids are letters, digits, - and _'))),
  SESSION_COOKIE: bool(false),
  ADMIN_EMAILS: list,
  TRUST_PROXY: list.pipe(z.array(z.string().refine((e) => parseProxyEntry(e) !== null, 'must be IP addresses or CIDRs'))),
  GRAPHIQL: bool(true).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().default('.data'),
  RATE_LIMITS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseRuleOverrides(v ?? '');
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  RUN_WORKERS: bool(true),
  EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  METRICS_TOKEN: z.string().trim().regex(/^\S*$/, 'must not contain spaces').optional(),
  DEV_OUTBOX: bool(false),
  // Unset: on when FRONTEND_URL is unset (the pages then live on this service, where the mails point).
  ACCOUNT_PAGES: bool(false).optional(),
  ENCRYPTION_KEY: z
    .string()
    .trim()
    .optional()
    .refine((v) => !v || parseKey(v) !== null, 'must be 32 bytes, base64 (e.g. openssl rand -base64 32)'),
  ENCRYPTION_KEYS_OLD: list.pipe(z.array(z.string().refine((v) => parseKey(v) !== null, 'must be 32-byte base64 keys, comma-separated'))),
  ACCESS_TOKEN_TTL: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce
      .number()
      .int()
      .min(10)
      .max(86_400)
      .default(defaultAccessTokenPolicy.ttlMs / 1000),
  ),
  WEBHOOK_ALLOW_PRIVATE: bool(false).optional(),
  STARTUP_RETRY_SECONDS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(600).default(30)),
  SMTP_URL: z
    .string()
    .trim()
    .regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL')
    .optional(),
  WEBAUTHN_RP_ID: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9.-]*$/, 'must be a host name (no scheme, port or path)')
    .optional(),
  WEBAUTHN_ORIGINS: list.pipe(z.array(z.url({ protocol: /^https?$/ }))),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  production: boolean;
  port: number;
  host: string;
  databaseUrl?: string;
  redisUrl?: string;
  redisPrefix: string;
  publicUrl: string;
  frontendUrl: string;
  allowedRedirects: string[];
  corsOrigins: string[];
  mailFrom: string;
  /** APP_NAME: the issuer shown by authenticator apps (TOTP). */
  appName: string;
  sendgridApiKey?: string;
  sendgridApiUrl: string;
  oauthProviders: OAuthProviderConfig[];
  sessionCookie: boolean;
  adminEmails: string[];
  trustProxy: string[];
  graphiql: boolean;
  /** Sign-in, link landing and account pages served at / and /auth/* (ACCOUNT_PAGES; default: when FRONTEND_URL is unset). */
  accountPages: boolean;
  introspection: boolean;
  logLevel: string;
  dataDir: string;
  embeddedPostgresPort: number;
  session: SessionPolicy;
  password: PasswordPolicy;
  throttle: ThrottlePolicies;
  /** Replacements for the default limits declared on GraphQL fields, by operation name. */
  rateLimits: Record<string, RateLimitRule[]>;
  graphqlLimits: GraphQLLimits;
  realtimeLimits: RealtimeLimits;
  tokens: TokenPolicy;
  queue: QueuePolicy;
  /** Run the job workers (mail, cleanup) in this process; `npm run worker` runs them alone. */
  runWorkers: boolean;
  /** Bearer token GET /metrics requires; unset: open outside production, 404 in production. */
  metricsToken?: string;
  /** Mail without SendGrid is kept in the dev outbox (GET /dev/outbox): never in production, else only for a loopback PUBLIC_URL or DEV_OUTBOX=true. */
  devOutbox: boolean;
  /**
   * Seals secrets at rest (base64, 32 bytes); unset outside production: a key generated once
   * under DATA_DIR. `encryptionKeysOld` still open what they sealed during a rotation.
   */
  encryptionKey?: string;
  encryptionKeysOld: string[];
  /** Access tokens for other services (ACCESS_TOKEN_TTL). */
  accessTokens: AccessTokenPolicy;
  /** Webhook URLs may point at loopback and private addresses (WEBHOOK_ALLOW_PRIVATE; default: outside production only). */
  webhookAllowPrivate: boolean;
  webhooks: WebhookPolicy;
  /** How long a start waits for DATABASE_URL and REDIS_URL to answer before it gives up (STARTUP_RETRY_SECONDS). */
  startupRetryMs: number;
  /** Mail through an SMTP relay (SMTP_URL), used when SENDGRID_API_KEY is unset. */
  smtpUrl?: string;
  /** Passkeys: relying party (WEBAUTHN_RP_ID, APP_NAME), the origins a response may come from (WEBAUTHN_ORIGINS). */
  webauthn: WebauthnConfig;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (production && !e.ENCRYPTION_KEY) {
    throw new ConfigError('Invalid configuration:\n  ENCRYPTION_KEY: required in production (32 bytes, base64: openssl rand -base64 32)');
  }
  const oauthProviders = e.OAUTH_PROVIDERS.map((id) => oauthProvider(id, env));
  const ownUrl = `http://localhost:${e.PORT}`;
  const publicUrl = e.PUBLIC_URL ?? ownUrl;
  const frontendUrl = e.FRONTEND_URL ?? ownUrl;
  const config: Config = {
    production,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    publicUrl,
    frontendUrl,
    allowedRedirects: e.ALLOWED_REDIRECTS,
    corsOrigins: e.CORS_ORIGINS.length ? e.CORS_ORIGINS : [new URL(frontendUrl).origin],
    mailFrom: e.MAIL_FROM,
    appName: e.APP_NAME,
    sendgridApiKey: e.SENDGRID_API_KEY || undefined,
    sendgridApiUrl: e.SENDGRID_API_URL,
    oauthProviders,
    sessionCookie: e.SESSION_COOKIE,
    adminEmails: e.ADMIN_EMAILS.map((m) => m.toLowerCase()),
    trustProxy: e.TRUST_PROXY,
    graphiql: e.GRAPHIQL ?? !production,
    accountPages: e.ACCOUNT_PAGES ?? e.FRONTEND_URL === undefined,
    introspection: !production,
    logLevel: e.LOG_LEVEL,
    dataDir: e.DATA_DIR,
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
    session: { ...defaultSessionPolicy },
    password: { ...defaultPasswordPolicy, argon2: { ...defaultPasswordPolicy.argon2 } },
    throttle: structuredClone(defaultThrottlePolicies),
    rateLimits: e.RATE_LIMITS,
    graphqlLimits: { ...defaultGraphQLLimits },
    realtimeLimits: { ...defaultRealtimeLimits },
    tokens: { ...defaultTokenPolicy },
    queue: { ...defaultQueuePolicy },
    runWorkers: e.RUN_WORKERS,
    metricsToken: e.METRICS_TOKEN || undefined,
    devOutbox: !production && (e.DEV_OUTBOX || isLoopbackHostname(new URL(publicUrl).hostname)),
    encryptionKey: e.ENCRYPTION_KEY || undefined,
    encryptionKeysOld: e.ENCRYPTION_KEYS_OLD,
    accessTokens: { ttlMs: e.ACCESS_TOKEN_TTL * 1000 },
    webhookAllowPrivate: e.WEBHOOK_ALLOW_PRIVATE ?? !production,
    webhooks: { ...defaultWebhookPolicy, retryDelaysMs: [...defaultWebhookPolicy.retryDelaysMs] },
    startupRetryMs: e.STARTUP_RETRY_SECONDS * 1000,
    smtpUrl: e.SMTP_URL || undefined,
    webauthn: webauthnOf(e.WEBAUTHN_RP_ID, e.WEBAUTHN_ORIGINS, frontendUrl, e.APP_NAME),
  };
  return deepFreeze(config);
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const v of Object.values(value)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(value);
}
