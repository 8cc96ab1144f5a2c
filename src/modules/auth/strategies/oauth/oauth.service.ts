import type { Config } from '../../../../config/env.ts';
import { AppError, sharedErrors } from '../../../../kernel/errors.ts';
import type { OAuthAttempt } from '../../../../generated/prisma/client.ts';
import type { Clock } from '../../../../platform/clock.ts';
import { hashToken, newToken, safeEqual } from '../../../../platform/crypto.ts';
import type { Db } from '../../../../platform/db.ts';
import type { Logger } from '../../../../platform/logger.ts';
import type { Metrics } from '../../../../platform/metrics.ts';
import { currentRequestId } from '../../../../platform/request-scope.ts';
import type { AuditService } from '../../../audit/audit.service.ts';
import type { Transact } from '../../../../kernel/unit-of-work.ts';
import type { ClientInfo } from '../../../../kernel/client.ts';
import { PASSWORD_SCOPE, type Throttle } from '../../../rate-limit/throttle.ts';
import { normalizeEmail } from '../../../users/email.ts';
import type { SignIn } from '../../sign-in.ts';
import type { OneTimeTokens } from '../../../tokens/one-time-tokens.ts';
import { lockedError } from '../../../users/account-lock.ts';
import type { UsersService } from '../../../users/users.service.ts';
import type { AuthResult } from '../../../../kernel/viewer.ts';
import { createGitHubClient } from './github-client.ts';
import { createOAuthAccounts } from './oauth-accounts.ts';
import { describeFailure, OAuthFailure, oauthErrors, type OAuthErrorCode } from './oauth-errors.ts';
import { createOidcClient } from './oidc-client.ts';
import type { AttemptSecrets, ExternalIdentity, ProviderClient } from './provider-client.ts';
import { checkRedirectTo, withOAuthParam } from './redirect-target.ts';

// Sign-in with an external provider in three steps:
//  1. startOAuth: checks redirectTo, stores an attempt (SHA-256 of the state, nonce, PKCE verifier,
//     the frontend's codeChallenge; 10 minutes, single use) and returns the authorization URL;
//  2. GET /oauth/callback: consumes the attempt, exchanges the code, matches or creates the user and
//     redirects to redirectTo with a one-time oauth_code bound to that codeChallenge (or oauth_error);
//  3. completeOAuth: trades the oauth_code and the frontend's codeVerifier for a session. The
//     session token never travels in a URL, and a code (or a callback URL) carried to another
//     browser is useless there: that browser does not hold the verifier.

/** How long we wait for a provider (discovery, token, userinfo) before the callback fails. */
const PROVIDER_TIMEOUT_SECONDS = 10;
/** Longer states are not ours (ours are 43 characters); they are not even hashed. */
const STATE_MAX = 256;
/** The frontend's codeChallenge: base64url SHA-256, unpadded (RFC 7636 S256). */
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** The frontend's codeVerifier: RFC 7636's 43 to 128 unreserved characters. */
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

interface Deps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'publicUrl' | 'frontendUrl' | 'allowedRedirects' | 'oauthProviders' | 'tokens'>;
  log: Logger;
  metrics: Metrics;
  tokens: OneTimeTokens;
  transact: Transact;
  users: UsersService;
  audit: AuditService;
  signIn: SignIn;
  throttle: Throttle;
}

export interface OAuthProviderInfo {
  id: string;
  name: string;
}

function createProviderClient(provider: Config['oauthProviders'][number]): ProviderClient {
  // config/env.ts guarantees a client id, and an issuer for every provider but github.
  const clientId = provider.clientId!;
  if (provider.issuer) return createOidcClient({ ...provider, issuer: provider.issuer, clientId }, PROVIDER_TIMEOUT_SECONDS);
  return createGitHubClient({ ...provider, clientId, endpoints: provider.endpoints! }, PROVIDER_TIMEOUT_SECONDS);
}

function normalizedOrNull(email: string | null | undefined): string | null {
  try {
    return email ? normalizeEmail(email) : null;
  } catch {
    return null;
  }
}

/** A concurrent first sign-in of the same identity or email lost the race to a unique index. */
const lostRace = (err: unknown) => (err as { code?: string } | null)?.code === 'P2002' || (err instanceof AppError && err.code === 'CONFLICT');

export function createOAuthService({ db, clock, config, log, metrics, tokens, transact, users, audit, signIn, throttle }: Deps) {
  const clients = new Map(config.oauthProviders.map((p) => [p.id, createProviderClient(p)]));
  const redirectUri = `${config.publicUrl}/oauth/callback`;
  const allowedRedirects = [config.frontendUrl, ...config.allowedRedirects];
  const accounts = createOAuthAccounts({ users, audit, now: () => clock.now() });

  /** Marks the attempt used, in one statement, so a replayed or concurrent callback finds nothing. */
  async function consumeAttempt(state: string | null): Promise<OAuthAttempt | null> {
    if (!state || state.length > STATE_MAX) return null;
    const now = clock.now();
    const [attempt] = await db.oAuthAttempt.updateManyAndReturn({
      where: { stateHash: hashToken(state), consumedAt: null, expiresAt: { gt: now } },
      data: { consumedAt: now },
    });
    return attempt ?? null;
  }

  function failed(provider: string, code: OAuthErrorCode, reason: string, target: string): string {
    metrics.oauthCallbacks.inc({ provider, result: code });
    log.warn({ requestId: currentRequestId(), provider, oauthError: code, reason }, 'oauth callback failed');
    return withOAuthParam(target, 'oauth_error', code);
  }

  /** Matches or creates the user and issues the oauth_code, in one transaction (retried once after a lost race). */
  async function signInCode(provider: string, identity: ExternalIdentity, client: ClientInfo, bindingHash: string) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await transact(async (tx, uow) => {
          // A provider that vouches for the address proves the mailbox: failed passwords for it no
          // longer hold anyone back (cleared before the user row is locked: the order of every sign-in).
          const vouched = identity.emailVerified ? normalizedOrNull(identity.email) : null;
          if (vouched) await throttle.clear(vouched, [PASSWORD_SCOPE], tx);
          const user = await accounts.userFor({ tx, uow }, provider, identity, client);
          const code = await tokens.issue({ purpose: 'OAUTH_CODE', email: user.email, userId: user.id, ttlMs: config.tokens.oauthCodeTtlMs, bindingHash }, tx);
          return { code, user };
        });
      } catch (err) {
        if (attempt >= 2 || !lostRace(err)) throw err;
      }
    }
  }

  return {
    providers(): OAuthProviderInfo[] {
      return [...clients.values()].map(({ id, name }) => ({ id, name }));
    },

    async start(providerId: string, redirectTo: string, codeChallenge: string): Promise<{ authorizationUrl: string }> {
      const client = clients.get(providerId);
      if (!client) throw oauthErrors.unknownProvider();
      const target = checkRedirectTo(redirectTo, allowedRedirects);
      if (!CODE_CHALLENGE.test(codeChallenge)) {
        throw oauthErrors.badCodeChallenge();
      }
      const secrets: AttemptSecrets = { state: newToken(), nonce: newToken(), codeVerifier: newToken() };
      // The URL first: when the provider cannot be discovered, no attempt row is left behind.
      const authorizationUrl = await client.authorizationUrl(secrets, redirectUri);
      const now = clock.now();
      await db.oAuthAttempt.create({
        data: {
          provider: client.id,
          stateHash: hashToken(secrets.state),
          nonce: secrets.nonce,
          codeVerifier: secrets.codeVerifier,
          bindingHash: codeChallenge,
          redirectTo: target.href,
          expiresAt: new Date(now.getTime() + config.tokens.oauthAttemptTtlMs),
          createdAt: now,
        },
      });
      return { authorizationUrl };
    },

    /** Handles GET /oauth/callback; returns where to redirect. Never throws for a bad callback. */
    async callback(query: URLSearchParams, client: ClientInfo): Promise<string> {
      const state = query.get('state');
      const attempt = await consumeAttempt(state);
      if (!attempt) return failed('unknown', 'invalid_state', 'no live attempt for this state', config.frontendUrl);
      const provider = attempt.provider;
      try {
        const providerClient = clients.get(provider);
        if (!providerClient) throw new OAuthFailure('provider_error', 'provider no longer configured');
        const providerError = query.get('error');
        if (providerError !== null) {
          const code = providerError === 'access_denied' ? 'access_denied' : 'provider_error';
          throw new OAuthFailure(code, `provider answered error=${/^[\w.-]{1,64}$/.test(providerError) ? providerError : '(malformed)'}`);
        }
        // Our registered redirect URI with the query as received: openid-client checks state and
        // iss in it, and sends this exact redirect_uri with the code.
        const callbackUrl = new URL(redirectUri);
        callbackUrl.search = query.toString();
        const identity = await providerClient.exchange(callbackUrl, { state: state!, nonce: attempt.nonce, codeVerifier: attempt.codeVerifier });
        const { code, user } = await signInCode(provider, identity, client, attempt.bindingHash);
        metrics.oauthCallbacks.inc({ provider, result: 'success' });
        log.info({ requestId: currentRequestId(), provider, userId: user.id }, 'oauth callback succeeded');
        return withOAuthParam(attempt.redirectTo, 'oauth_code', code);
      } catch (err) {
        if (err instanceof OAuthFailure) return failed(provider, err.code, err.message, attempt.redirectTo);
        log.error({ requestId: currentRequestId(), provider, err }, 'oauth callback error');
        return failed(provider, 'server_error', describeFailure(err), attempt.redirectTo);
      }
    },

    /**
     * Trades a one-time oauth_code for a session, given the codeVerifier of the browser that
     * started the sign-in: TOKEN_INVALID once used or with another verifier (which uses it up),
     * TOKEN_EXPIRED after 60 s. A malformed verifier is BAD_USER_INPUT and leaves the code alone.
     */
    async complete(code: string, codeVerifier: string, client: ClientInfo): Promise<AuthResult> {
      if (!CODE_VERIFIER.test(codeVerifier)) throw oauthErrors.badCodeVerifier();
      // The code is spent on its own, before the sign-in transaction: when the verifier is wrong
      // the call fails, and the code must stay spent all the same, so that whoever carried it to
      // this browser cannot try again and its rightful browser cannot be made to complete it later.
      const spent = await tokens.consume(db, 'OAUTH_CODE', code).then(
        (token) => ({ token }),
        (error: unknown) => ({ error }),
      );
      return signIn('OAUTH', client, async (tx) => {
        if ('error' in spent) throw spent.error;
        const { id, bindingHash, userId } = spent.token;
        if (!bindingHash || !safeEqual(bindingHash, hashToken(codeVerifier))) {
          log.warn({ requestId: currentRequestId(), userId }, "oauth code presented with another browser's verifier; code spent");
          throw sharedErrors.tokenInvalid();
        }
        if (!userId) throw sharedErrors.tokenInvalid();
        // A proof of the mailbox that took the account over since the code was spent deleted it;
        // under the share lock the claim has either committed (the code is gone) or waits for us
        // and revokes the session we open.
        await tx.$executeRaw`SELECT 1 FROM "User" WHERE id = ${userId}::uuid FOR SHARE`;
        if (!(await tx.oneTimeToken.findUnique({ where: { id }, select: { id: true } }))) throw sharedErrors.tokenInvalid();
        // The code dies with its user (cascade); a user deleted meanwhile finds nothing here.
        const user = await tx.user.findUnique({ where: { id: userId } });
        if (!user) throw sharedErrors.tokenInvalid();
        const locked = lockedError(user, clock.now());
        if (locked) throw locked;
        return { user, readUnderLock: true };
      });
    },
  };
}

export type OAuthService = ReturnType<typeof createOAuthService>;
