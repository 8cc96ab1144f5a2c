import type { Config } from './config/env.ts';
import { createAccessTokensService } from './modules/access-tokens/access-tokens.service.ts';
import { createSigningKeys } from './modules/access-tokens/signing-keys.ts';
import { createAdminService } from './modules/admin/admin.service.ts';
import { createAuditFeed } from './modules/audit/audit-feed.ts';
import { createAuditService, type AuditService, type AuditSubscriber } from './modules/audit/audit.service.ts';
import { createEmailCodeService } from './modules/auth/strategies/email-code/email-code.service.ts';
import { createMagicLinkService } from './modules/auth/strategies/magic-link/magic-link.service.ts';
import { createMailService, type MailService } from './modules/mail/mail.service.ts';
import { createOAuthService } from './modules/auth/strategies/oauth/oauth.service.ts';
import { createPasswordHasher, type PasswordHasher } from './modules/auth/strategies/password/password-hasher.ts';
import { createPasswordService } from './modules/auth/strategies/password/password.service.ts';
import { createRateLimitService } from './modules/rate-limit/rate-limit.service.ts';
import { createRecoveryService } from './modules/recovery/recovery.service.ts';
import { createRateLimiter } from './modules/rate-limit/rate-limiter.ts';
import { createThrottle, type Throttle } from './modules/rate-limit/throttle.ts';
import { createRevocationFeed } from './modules/sessions/revocation-feed.ts';
import { createSessionsService, type SessionRevocation, type SessionsService } from './modules/sessions/sessions.service.ts';
import { createRegistration } from './modules/auth/register.ts';
import { createSignIn, type SignIn } from './modules/auth/sign-in.ts';
import { createOneTimeTokens, type OneTimeTokens } from './modules/tokens/one-time-tokens.ts';
import { createUsersService, type UsersService } from './modules/users/users.service.ts';
import { createVerificationService } from './modules/verification/verification.service.ts';
import { createWebhooksService } from './modules/webhooks/webhooks.service.ts';
import type { Clock } from './platform/clock.ts';
import type { Db } from './platform/db.ts';
import type { Events } from './platform/events.ts';
import type { Logger } from './platform/logger.ts';
import type { Encryptor } from './platform/encryption.ts';
import type { Mailer } from './platform/mailer/mailer.ts';
import type { Metrics } from './platform/metrics.ts';
import type { Queue } from './platform/queue.ts';
import type { Redis } from './platform/redis.ts';

export interface ServiceDeps {
  db: Db;
  clock: Clock;
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** Shared counters across instances; without it, limits are counted in process. */
  redis?: Redis;
  events: Events;
  queue: Queue;
  mailer: Mailer;
  /** Seals the secrets kept at rest that must be read back (ENCRYPTION_KEY). */
  encryptor: Encryptor;
}

/** What a sign-in strategy may be given: the shared services and the one sign-in flow. */
export interface StrategyDeps {
  db: Db;
  clock: Clock;
  config: Config;
  log: Logger;
  metrics: Metrics;
  hasher: PasswordHasher;
  audit: AuditService;
  tokens: OneTimeTokens;
  sessions: SessionsService;
  throttle: Throttle;
  users: UsersService;
  mail: MailService;
  signIn: SignIn;
  notifyPasswordChanged: (user: { id: string; email: string }) => Promise<void>;
  voidMailedSecrets: OneTimeTokens['voidMailedSecrets'];
}

/**
 * Every way to sign in, by the name its service goes by: a folder under modules/auth/strategies/
 * and one line here (plus its schema file in graphql/schema.ts).
 */
export const signInStrategies = {
  password: createPasswordService,
  magicLink: createMagicLinkService,
  emailCode: createEmailCodeService,
  oauth: createOAuthService,
} satisfies Record<string, (deps: StrategyDeps) => object>;

type Strategies = { [K in keyof typeof signInStrategies]: ReturnType<(typeof signInStrategies)[K]> };

function createStrategies(deps: StrategyDeps): Strategies {
  return Object.fromEntries(Object.entries(signInStrategies).map(([name, create]) => [name, create(deps)])) as Strategies;
}

/** Wires the feature services together; none of them knows GraphQL. */
export function createServices({ db, clock, config, log, metrics, redis, events, queue, mailer, encryptor }: ServiceDeps) {
  const hasher = createPasswordHasher(config.password);
  // Every committed audit event goes to the admins' live feed on every instance.
  // The webhook outbox writes its deliveries in the audited transaction and sends them once announced.
  const inTransaction: AuditSubscriber[] = [];
  const audit = createAuditService({
    db, clock, inTransaction,
    onRecorded: (event) => {
      events.publishAuditEvent(event);
      webhooks.announced(event);
    },
  });
  const webhooks = createWebhooksService({ db, clock, config, log, audit, encryptor, queue, registry: metrics.registry });
  inTransaction.push(webhooks.outbox);
  const tokens = createOneTimeTokens({ db, clock });
  // Every revocation, whatever its path, is announced to subscribers on every instance.
  const onRevoked = (revocations: SessionRevocation[]) => {
    for (const revocation of revocations) {
      events.publishSessionRevoked(revocation);
      metrics.eventsPublished.inc();
    }
  };
  const sessions = createSessionsService({ db, clock, policy: config.session, onRevoked, audit, tokens });
  const throttle = createThrottle({ db, clock });
  const mail = createMailService({ db, clock, queue, mailer, config, metrics, log });
  const verification = createVerificationService({ db, clock, config, tokens, mail, audit });
  const users = createUsersService({ db, clock, config, hasher, sessions, audit });

  const limiter = createRateLimiter({ redis, log, onFallback: () => metrics.rateLimitFallbacks.inc() });
  const rateLimits = createRateLimitService({ limiter, overrides: config.rateLimits, metrics });
  const revocationFeed = createRevocationFeed({ events, metrics, sessions });
  const recovery = createRecoveryService({ db, clock, config, hasher, tokens, mail, sessions, audit, users, throttle });
  // THE sign-in flow; each method is a strategy that hands it a proof (see signInStrategies).
  const signIn = createSignIn({ db, sessions, audit, metrics });
  const registration = createRegistration({ users, signIn, requestVerification: verification.requestFor });
  const strategyDeps: StrategyDeps = {
    db, clock, config, log, metrics, hasher, audit, tokens, sessions, throttle, users, mail, signIn,
    notifyPasswordChanged: recovery.notifyPasswordChanged,
    voidMailedSecrets: tokens.voidMailedSecrets,
  };
  const { password, magicLink, emailCode, oauth } = createStrategies(strategyDeps);
  const admin = createAdminService({ db, clock, users, sessions, audit, throttle });
  const auditFeed = createAuditFeed({ db, clock, events });
  const signingKeys = createSigningKeys({ db, clock, encryptor, log, tokenTtlMs: config.accessTokens.ttlMs });
  const accessTokens = createAccessTokensService({ clock, policy: config.accessTokens, publicUrl: config.publicUrl, signingKeys });
  return {
    hasher, audit, tokens, sessions, throttle, users, registration, password, rateLimits, revocationFeed, mail, magicLink, emailCode, recovery,
    verification, oauth, admin, auditFeed, accessTokens, webhooks,
  };
}

export type Services = ReturnType<typeof createServices>;
