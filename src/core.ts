import type { Config } from './config/env.ts';
import { createDomainEvents } from './kernel/events.ts';
import { createTransact, type Scope, type Transact } from './kernel/unit-of-work.ts';
import { declareQueues, startWorkers } from './jobs/workers.ts';
import { createAccessTokensService } from './modules/access-tokens/access-tokens.service.ts';
import { createSigningKeys } from './modules/access-tokens/signing-keys.ts';
import { createAdminService } from './modules/admin/admin.service.ts';
import { createAuditFeed } from './modules/audit/audit-feed.ts';
import { createAuditService, type AuditService } from './modules/audit/audit.service.ts';
import { createRegistration } from './modules/auth/register.ts';
import { createSecondFactorService } from './modules/auth/second-factor/second-factor.service.ts';
import { createSignIn, type SignIn } from './modules/auth/sign-in.ts';
import { createEmailCodeService } from './modules/auth/strategies/email-code/email-code.service.ts';
import { createMagicLinkService } from './modules/auth/strategies/magic-link/magic-link.service.ts';
import { createOAuthService } from './modules/auth/strategies/oauth/oauth.service.ts';
import { createPasskeyService } from './modules/auth/strategies/passkey/passkey.service.ts';
import { createPasswordHasher, type PasswordHasher } from './modules/auth/strategies/password/password-hasher.ts';
import { createPasswordService } from './modules/auth/strategies/password/password.service.ts';
import { createMailService, type MailService } from './modules/mail/mail.service.ts';
import { createRateLimitService } from './modules/rate-limit/rate-limit.service.ts';
import { createRateLimiter } from './modules/rate-limit/rate-limiter.ts';
import { createThrottle, type Throttle } from './modules/rate-limit/throttle.ts';
import { createRecoveryService } from './modules/recovery/recovery.service.ts';
import { createRevocationFeed } from './modules/sessions/revocation-feed.ts';
import { revocationChannel } from './modules/sessions/revocation-channel.ts';
import { auditChannel } from './modules/audit/audit-channel.ts';
import { createSessionWatch } from './graphql/transports/session-watch.ts';
import { createSessionsService, type SessionsService } from './modules/sessions/sessions.service.ts';
import { createOneTimeTokens, type OneTimeTokens } from './modules/tokens/one-time-tokens.ts';
import { createUsersService, type UsersService } from './modules/users/users.service.ts';
import { createVerificationService } from './modules/verification/verification.service.ts';
import { createWebhooksService } from './modules/webhooks/webhooks.service.ts';
import type { Clock } from './platform/clock.ts';
import { createDb, type Db } from './platform/db.ts';
import { createEncryptor, developmentKey, parseKey, type Encryptor } from './platform/encryption.ts';
import { createEvents, type Events } from './platform/events.ts';
import type { Logger } from './platform/logger.ts';
import { createDevOutboxMailer } from './platform/mailer/dev-outbox.ts';
import type { Mailer } from './platform/mailer/mailer.ts';
import { createSendgridMailer } from './platform/mailer/sendgrid.ts';
import { createSmtpMailer } from './platform/mailer/smtp.ts';
import { createMetrics, registrationMethodLabel, type Metrics } from './platform/metrics.ts';
import { countActiveSessions } from './modules/sessions/active-sessions.ts';
import { createQueue, type Queue } from './platform/queue.ts';
import { createRedis, createRedisWarning, type Redis } from './platform/redis.ts';

/**
 * The adapters and services without any transport: what the HTTP app (src/app.ts) and the
 * standalone worker (src/worker.ts) share.
 */
export function createCore({ config, databaseUrl, clock, log }: { config: Config; databaseUrl: string; clock: Clock; log: Logger }) {
  const db = createDb(databaseUrl);
  const redis: Redis | undefined = config.redisUrl ? createRedis(config.redisUrl, config.redisPrefix) : undefined;
  // Three clients retry while Redis is away: one warning, then one a minute, not three every 2 s.
  const redisWarning = createRedisWarning(log);
  redis?.on('error', redisWarning);
  const metrics = createMetrics();
  const events = createEvents({ redisUrl: config.redisUrl, prefix: config.redisPrefix, log, onRedisError: redisWarning });
  const queue = createQueue({ databaseUrl, log, policy: config.queue });
  const mailer = createMailer(config, db, log);
  const encryptor = createEncryptor(
    config.encryptionKey ? parseKey(config.encryptionKey)! : developmentKey(config.dataDir),
    config.encryptionKeysOld.map((key) => parseKey(key)!),
  );
  const services = createServices({ db, clock, config, log, metrics, redis, events, queue, mailer, encryptor });
  metrics.countActiveSessionsWith(() => countActiveSessions(db, clock));

  return {
    db,
    redis,
    metrics,
    events,
    services,
    mailerName: mailer.name,
    /** Starts the job queue, and its workers when `withWorkers`. */
    async startJobs(withWorkers: boolean) {
      await queue.start();
      await declareQueues(queue);
      if (withWorkers) await startWorkers({ queue, services, db, clock, log, config });
    },
    async close() {
      await queue.stop();
      await db.$disconnect();
      await events.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export type Core = ReturnType<typeof createCore>;

/**
 * SendGrid when configured, else an SMTP relay (SMTP_URL); otherwise the dev outbox, but only
 * where it is on (config.devOutbox: never in production, else a loopback PUBLIC_URL or
 * DEV_OUTBOX=true): it shows every magic link
 * to whoever can reach it. Elsewhere every mail fails (retried, then dead-lettered) until a
 * provider is configured, and the start says so in one line.
 */
function createMailer(config: Config, db: Db, log: Logger): Mailer {
  if (config.sendgridApiKey) return createSendgridMailer({ apiKey: config.sendgridApiKey, apiUrl: config.sendgridApiUrl });
  if (config.smtpUrl) return createSmtpMailer({ url: config.smtpUrl });
  if (!config.devOutbox) {
    const why = config.production ? '' : ' and the dev outbox is off (PUBLIC_URL is not a loopback URL; DEV_OUTBOX=true turns it on)';
    log.error(`Neither SENDGRID_API_KEY nor SMTP_URL is set${why}: no mail (magic links, codes, resets, verification) can be sent`);
    return {
      name: 'outbox',
      send: () => Promise.reject(new Error('no mail provider is configured (SENDGRID_API_KEY or SMTP_URL)')),
    };
  }
  // The outbox stamps mails with the wall clock: it lists them in the order they arrived.
  return createDevOutboxMailer({ db, log, publicUrl: config.publicUrl, now: () => new Date() });
}

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
  transact: Transact;
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
  passkey: createPasskeyService,
} satisfies Record<string, (deps: StrategyDeps) => object>;

type Strategies = { [K in keyof typeof signInStrategies]: ReturnType<(typeof signInStrategies)[K]> };

function createStrategies(deps: StrategyDeps): Strategies {
  return Object.fromEntries(Object.entries(signInStrategies).map(([name, create]) => [name, create(deps)])) as Strategies;
}

/** Wires the feature services together; none of them knows GraphQL. */
export function createServices({ db, clock, config, log, metrics, redis, events, queue, mailer, encryptor }: ServiceDeps) {
  const hasher = createPasswordHasher(config.password);
  // Writes run in units of work: their domain events reach the subscribers wired here, inside the
  // transaction (the webhook outbox) or once it has committed (realtime, metrics).
  const domainEvents = createDomainEvents<Scope>((err, type) => log.error({ err, type }, 'a listener of a committed change failed'));
  const transact = createTransact(db, domainEvents, (err) => log.error({ err }, 'work queued after a commit failed'));
  const audit = createAuditService({ db, clock, transact });
  const webhooks = createWebhooksService({ db, clock, config, log, transact, audit, encryptor, queue, registry: metrics.registry });
  domainEvents.inTransaction('audit.recorded', webhooks.outbox);
  domainEvents.afterCommit('audit.recorded', (record) => {
    // Every committed audit event goes to the admins' live feed on every instance.
    events.publish(auditChannel, record);
    if (record.type === 'user.registered') metrics.registrations.inc({ method: registrationMethodLabel(record.data) });
  });
  // Every revocation, whatever its path, is announced to subscribers on every instance.
  domainEvents.afterCommit('sessions.revoked', (revocations) => {
    for (const revocation of revocations) {
      events.publish(revocationChannel, revocation, revocation.userId);
      metrics.eventsPublished.inc();
    }
  });
  const tokens = createOneTimeTokens({ db, clock });
  // The session cache checks every hit against change marks shared through Redis (when set).
  const sessions = createSessionsService({ db, clock, policy: config.session, transact, audit, tokens, redis, log });
  const throttle = createThrottle({ db, clock });
  const mail = createMailService({ db, clock, queue, mailer, config, metrics, log });
  const verification = createVerificationService({ db, clock, config, transact, tokens, mail, audit, sessions });
  const users = createUsersService({ db, clock, config, hasher, sessions, audit });

  const limiter = createRateLimiter({ redis, log, onFallback: () => metrics.rateLimitFallbacks.inc() });
  const rateLimits = createRateLimitService({ limiter, overrides: config.rateLimits, metrics });
  // THE registry of this instance's long-lived connections: ends sockets and streams of ended sessions.
  const sessionWatch = createSessionWatch({
    events,
    liveIds: (ids) => sessions.liveIds(ids),
    onListenerError: (err) => log.warn({ err }, 'session watch listener failed'),
  });
  const revocationFeed = createRevocationFeed({ events, metrics, watch: sessionWatch.watch });
  const recovery = createRecoveryService({ db, clock, config, transact, hasher, tokens, mail, sessions, audit, users, throttle });
  // THE sign-in flow; each method is a strategy that hands it a proof (see signInStrategies).
  const secondFactor = createSecondFactorService({ db, clock, config, transact, encryptor, hasher, sessions, audit, mail, throttle, metrics });
  const signIn = createSignIn({ transact, sessions, audit, metrics, secondFactor: () => secondFactor });
  const registration = createRegistration({ users, signIn, requestVerification: verification.requestFor });
  const strategyDeps: StrategyDeps = {
    db,
    clock,
    config,
    log,
    metrics,
    transact,
    hasher,
    audit,
    tokens,
    sessions,
    throttle,
    users,
    mail,
    signIn,
    notifyPasswordChanged: recovery.notifyPasswordChanged,
    voidMailedSecrets: tokens.voidMailedSecrets,
  };
  const { password, magicLink, emailCode, oauth, passkey } = createStrategies(strategyDeps);
  const admin = createAdminService({ db, clock, transact, users, sessions, audit, throttle });
  const auditFeed = createAuditFeed({ db, clock, events });
  const signingKeys = createSigningKeys({ db, clock, encryptor, log, tokenTtlMs: config.accessTokens.ttlMs });
  const accessTokens = createAccessTokensService({ clock, policy: config.accessTokens, publicUrl: config.publicUrl, signingKeys });
  return {
    hasher,
    audit,
    tokens,
    sessions,
    sessionWatch,
    throttle,
    users,
    registration,
    password,
    rateLimits,
    revocationFeed,
    mail,
    magicLink,
    emailCode,
    recovery,
    verification,
    oauth,
    admin,
    auditFeed,
    accessTokens,
    webhooks,
    secondFactor,
    passkey,
  };
}

export type Services = ReturnType<typeof createServices>;
