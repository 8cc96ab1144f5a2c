import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticatorTransport,
} from '@simplewebauthn/server';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../../../config/env.ts';
import type { Passkey, User } from '../../../../generated/prisma/client.ts';
import type { ClientInfo } from '../../../../kernel/client.ts';
import { AppError } from '../../../../kernel/errors.ts';
import { passkeyErrors } from './passkey-errors.ts';
import type { Transact } from '../../../../kernel/unit-of-work.ts';
import { isUuid } from '../../../../kernel/pagination.ts';
import type { AuthResult } from '../../../../kernel/viewer.ts';
import type { Clock } from '../../../../platform/clock.ts';
import type { Db } from '../../../../platform/db.ts';
import type { Logger } from '../../../../platform/logger.ts';
import type { AuditService } from '../../../audit/audit.service.ts';
import type { MailService } from '../../../mail/mail.service.ts';
import { link, passkeyAddedMail } from '../../../mail/templates.ts';
import { lockedError } from '../../../users/account-lock.ts';
import { normalizeEmail } from '../../../users/email.ts';
import type { SignIn } from '../../sign-in.ts';
import { createPasskeyChallenges } from './passkey-challenges.ts';
import { encodedUserHandleOf, parseAuthenticationResponse, parseRegistrationResponse, SUPPORTED_ALGORITHMS, userHandleOf } from './passkey-responses.ts';

// Passkeys (WebAuthn): a signed-in user registers them, anyone signs in with one. Registration
// requires user verification, so a passkey sign-in proves possession and the user at once and
// counts as both factors. Challenges are kept by the service (passkey-challenges.ts).

interface Deps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'webauthn' | 'frontendUrl'>;
  log: Logger;
  transact: Transact;
  audit: AuditService;
  mail: MailService;
  signIn: SignIn;
}

/** What a frontend passes to navigator.credentials (options, as JSON) and presents back (the id). */
export interface PasskeyCeremony {
  challengeId: string;
  options: string;
}

const NAME_MAX = 64;
const DEFAULT_NAME = 'Passkey';

/** Why a sign-in was refused, for the audit log (never the response or the challenge). */
type Refusal = 'unknown_challenge' | 'unknown_credential' | 'other_account' | 'verification_failed' | 'counter' | 'locked';

export function createPasskeyService({ db, clock, config, log, transact, audit, mail, signIn }: Deps) {
  const rp = config.webauthn;
  const challenges = createPasskeyChallenges({ db, clock, ttlMs: rp.challengeTtlMs });
  const transportsOf = (p: Pick<Passkey, 'transports'>) => (p.transports ? (p.transports.split(',') as AuthenticatorTransport[]) : []);

  mail.register('passkey-added', async ({ email }) => ({
    to: email,
    mail: passkeyAddedMail(link(config.frontendUrl, '/auth/forgot-password', {})),
  }));

  const tooMany = () => passkeyErrors.tooMany(rp.maxPerUser);

  /** A refused verification: the library's reason goes to the debug log only (it quotes the challenge). */
  const refuse = (stage: string, err?: unknown) => {
    log.debug({ stage, reason: err instanceof Error ? err.name : undefined }, 'passkey response refused');
    return passkeyErrors.challengeInvalid();
  };

  return {
    challengeTtlMs: rp.challengeTtlMs,

    async listFor(userId: string): Promise<Passkey[]> {
      return db.passkey.findMany({ where: { userId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
    },

    /** Creation options for the signed-in user: resident key preferred, user verification required. */
    async startRegistration(user: Pick<User, 'id' | 'email' | 'name'>): Promise<PasskeyCeremony> {
      const own = await db.passkey.findMany({ where: { userId: user.id }, select: { credentialId: true, transports: true } });
      if (own.length >= rp.maxPerUser) throw tooMany();
      const options = await generateRegistrationOptions({
        rpName: rp.rpName,
        rpID: rp.rpId,
        userName: user.email,
        userID: userHandleOf(user.id),
        userDisplayName: user.name || user.email,
        timeout: rp.challengeTtlMs,
        attestationType: 'none',
        // The authenticator refuses to make a second passkey of the same account.
        excludeCredentials: own.map((p) => ({ id: p.credentialId, transports: transportsOf(p) })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
        supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
      });
      const challengeId = await challenges.store('REGISTRATION', options.challenge, user.id);
      return { challengeId, options: JSON.stringify(options) };
    },

    /** Verifies the browser's attestation and keeps the passkey; the user is mailed about it. */
    async finishRegistration(
      user: Pick<User, 'id' | 'email'>,
      input: { challengeId: string; response: string; name?: string | null },
      client: ClientInfo,
    ): Promise<Passkey> {
      const name = input.name?.trim() || DEFAULT_NAME;
      if (name.length > NAME_MAX) throw passkeyErrors.nameTooLong(NAME_MAX);
      const response = parseRegistrationResponse(input.response);
      const stored = await challenges.peek('REGISTRATION', input.challengeId);
      // A challenge handed to another account registers nothing here.
      if (stored.userId !== user.id) throw refuse('other_account');
      let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verified = await verifyRegistrationResponse({
          response,
          expectedChallenge: stored.challenge,
          expectedOrigin: rp.origins,
          expectedRPID: rp.rpId,
          requireUserPresence: true,
          requireUserVerification: true,
          supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
        });
      } catch (err) {
        throw refuse('registration', err);
      }
      if (!verified.verified) throw refuse('registration');
      const info = verified.registrationInfo;
      try {
        return await transact(async (tx, uow) => {
          await challenges.consume(tx, 'REGISTRATION', input.challengeId);
          // One registration at a time per account, so the limit holds under concurrent finishes.
          await tx.$executeRaw`SELECT 1 FROM "User" WHERE id = ${user.id}::uuid FOR UPDATE`;
          if ((await tx.passkey.count({ where: { userId: user.id } })) >= rp.maxPerUser) throw tooMany();
          if (await tx.passkey.findUnique({ where: { credentialId: info.credential.id }, select: { id: true } })) {
            throw passkeyErrors.alreadyRegistered();
          }
          const passkey = await tx.passkey.create({
            data: {
              userId: user.id,
              credentialId: info.credential.id,
              publicKey: new Uint8Array(info.credential.publicKey),
              counter: BigInt(info.credential.counter),
              transports: (info.credential.transports ?? []).join(','),
              deviceType: info.credentialDeviceType,
              backedUp: info.credentialBackedUp,
              name,
              createdAt: clock.now(),
            },
          });
          await audit.record({ type: 'passkey.registered', userId: user.id, client, data: { passkeyId: passkey.id, name } }, { tx, uow });
          await mail.request({ template: 'passkey-added', email: user.email, userId: user.id }, tx);
          return passkey;
        });
      } catch (err) {
        // Another account registered this credential in the same instant (unique credential id).
        if ((err as { code?: string }).code === 'P2002') throw passkeyErrors.alreadyRegistered();
        throw err;
      }
    },

    /** Deletes one of `userId`'s passkeys (an admin's `actor`, when it is one); false when there is none. */
    async remove(id: string, by: { userId?: string; actorId?: string; client: ClientInfo }): Promise<boolean> {
      if (!isUuid(id)) return false;
      return transact(async (tx, uow) => {
        const [deleted] = await tx.$queryRaw<Array<{ userId: string; name: string }>>`
          DELETE FROM "Passkey" WHERE id = ${id}::uuid AND (${by.userId ?? null}::uuid IS NULL OR "userId" = ${by.userId ?? null}::uuid)
          RETURNING "userId"::text AS "userId", name`;
        if (!deleted) return false;
        await audit.record(
          { type: 'passkey.deleted', userId: deleted.userId, actorId: by.actorId ?? null, client: by.client, data: { passkeyId: id, name: deleted.name } },
          { tx, uow },
        );
        return true;
      });
    },

    /**
     * Request options for a sign-in. Never lists credentials: an unknown address gets the same
     * answer as a known one, and a real stored challenge, bound to an account id that has no
     * passkey. With an email, only a passkey of that account can use the challenge.
     */
    async startSignIn(rawEmail?: string | null): Promise<PasskeyCeremony> {
      let userId: string | null = null;
      if (rawEmail != null && rawEmail.trim() !== '') {
        const email = normalizeEmail(rawEmail);
        const user = await db.user.findUnique({ where: { email }, select: { id: true } });
        userId = user?.id ?? randomUUID();
      }
      const options = await generateAuthenticationOptions({ rpID: rp.rpId, userVerification: 'required', timeout: rp.challengeTtlMs });
      const challengeId = await challenges.store('SIGN_IN', options.challenge, userId);
      return { challengeId, options: JSON.stringify(options) };
    },

    /**
     * Signs in with an assertion. In the sign-in's transaction: the challenge is spent, the
     * credential found and verified with its stored key, the signature counter must move forward
     * (unless the authenticator keeps none: both 0), and the new counter is stored. Any refusal
     * rolls all of it back and is audited as login.failed.
     */
    async login(input: { challengeId: string; response: string }, client: ClientInfo): Promise<AuthResult> {
      const response = parseAuthenticationResponse(input.response);
      const attempt: { reason: Refusal; userId: string | null } = { reason: 'unknown_challenge', userId: null };
      try {
        return await signIn('PASSKEY', client, async (tx) => {
          attempt.reason = 'unknown_challenge';
          const stored = await challenges.consume(tx, 'SIGN_IN', input.challengeId);
          attempt.reason = 'unknown_credential';
          const passkey = await tx.passkey.findUnique({ where: { credentialId: response.id } });
          if (!passkey) throw refuse(attempt.reason);
          attempt.userId = passkey.userId;
          attempt.reason = 'other_account';
          if (stored.userId !== null && stored.userId !== passkey.userId) throw refuse(attempt.reason);
          const handle = response.response.userHandle;
          if (handle && handle !== encodedUserHandleOf(passkey.userId)) throw refuse(attempt.reason);
          attempt.reason = 'verification_failed';
          let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
          try {
            verified = await verifyAuthenticationResponse({
              response,
              expectedChallenge: stored.challenge,
              expectedOrigin: rp.origins,
              expectedRPID: rp.rpId,
              requireUserVerification: true,
              credential: {
                id: passkey.credentialId,
                publicKey: new Uint8Array(passkey.publicKey),
                counter: Number(passkey.counter),
                transports: transportsOf(passkey),
              },
            });
          } catch (err) {
            if (err instanceof Error && /counter/i.test(err.message)) attempt.reason = 'counter';
            throw refuse(attempt.reason, err);
          }
          if (!verified.verified) throw refuse(attempt.reason);
          const { newCounter, credentialBackedUp } = verified.authenticationInfo;
          // Conditional on the counter read above: of two uses of one assertion, one moves it.
          attempt.reason = 'counter';
          const moved = await tx.passkey.updateMany({
            where: { id: passkey.id, counter: passkey.counter },
            data: { counter: BigInt(newCounter), lastUsedAt: clock.now(), backedUp: credentialBackedUp },
          });
          if (moved.count !== 1) throw refuse(attempt.reason);
          // Under the share lock an admin lock committed meanwhile is seen here, not after the session opens.
          await tx.$executeRaw`SELECT 1 FROM "User" WHERE id = ${passkey.userId}::uuid FOR SHARE`;
          const user = await tx.user.findUnique({ where: { id: passkey.userId } });
          if (!user) throw refuse('unknown_credential');
          attempt.reason = 'locked';
          const locked = lockedError(user, clock.now());
          if (locked) throw locked;
          return { user, readUnderLock: true };
        });
      } catch (err) {
        if (err instanceof AppError && ['TOKEN_INVALID', 'TOKEN_EXPIRED', 'LOCKED'].includes(err.code)) {
          const reason = err.code === 'TOKEN_EXPIRED' ? 'expired_challenge' : attempt.reason;
          await audit.record({ type: 'login.failed', userId: attempt.userId, client, data: { method: 'PASSKEY', reason } });
        }
        throw err;
      }
    },
  };
}

export type PasskeyService = ReturnType<typeof createPasskeyService>;
