import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { SigningKey } from '../../generated/prisma/client.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db.ts';
import type { Encryptor } from '../../platform/encryption.ts';
import type { Logger } from '../../platform/logger.ts';

// The ES256 keys that sign access tokens, shared by every instance through the database. The key
// that signs is the one with the latest `signsFrom` already reached: the same on every instance,
// and unique (`signsFrom` is a unique column). Its successor is created (under an advisory lock,
// so by one instance only) PUBLISH_AHEAD_MS before it starts signing, so resource servers that
// cache the JWKS hold it before the first token it signs; the old key stays in the JWKS until the
// last token it signed has expired. Private keys are sealed with ENCRYPTION_KEY at rest.

const HOUR = 3_600_000;
/** A key signs for this long, then its successor takes over. */
export const ROTATION_MS = 30 * 24 * HOUR;
/** A successor is in the JWKS this long before it signs. */
export const PUBLISH_AHEAD_MS = HOUR;
/** How often an instance re-reads the keys (a successor made by another instance). */
const REREAD_MS = 60_000;
/** Clocks of instances may differ by this much: a retired key stays published this much longer. */
const CLOCK_MARGIN_MS = 60_000;
/** pg_advisory_xact_lock key of key creation. */
const ROTATION_LOCK = 0x4a574b53; // "JWKS"

export const sealContext = (kid: string) => `signing-key:${kid}`;

interface Loaded {
  keys: SigningKey[];
  /** The cached keys are re-read once the clock passes this. */
  validUntil: number;
}

interface Deps {
  db: Db;
  clock: Clock;
  encryptor: Encryptor;
  log: Logger;
  /** A retired key stays published for the life of the tokens it signed. */
  tokenTtlMs: number;
}

export function createSigningKeys({ db, clock, encryptor, log, tokenTtlMs }: Deps) {
  let loaded: Loaded | null = null;
  let loading: Promise<Loaded> | null = null;
  /** Opened private keys by kid: unsealed and imported once per process. */
  const privateKeys = new Map<string, Promise<CryptoKey>>();

  const successorDue = (keys: SigningKey[], now: number) => {
    const newest = keys.at(-1);
    return !newest || now >= newest.signsFrom.getTime() + ROTATION_MS - PUBLISH_AHEAD_MS;
  };

  const published = (now: Date) =>
    db.signingKey.findMany({
      where: { OR: [{ retiresAt: null }, { retiresAt: { gt: now } }] },
      orderBy: { signsFrom: 'asc' },
    });

  /** Creates the first key, or the successor of the newest, unless another instance just did. */
  async function createSuccessor(now: Date): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    const sealedPrivateJwk = encryptor.seal(JSON.stringify(await exportJWK(privateKey)), sealContext(kid));
    const created = await db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ROTATION_LOCK})`;
      const newest = await tx.signingKey.findFirst({ orderBy: { signsFrom: 'desc' } });
      if (newest && !successorDue([newest], now.getTime())) return null;
      // The first key signs at once; a successor after its predecessor's 30 days, and never
      // before caches have had PUBLISH_AHEAD_MS to see it.
      const signsFrom = newest ? new Date(Math.max(newest.signsFrom.getTime() + ROTATION_MS, now.getTime() + PUBLISH_AHEAD_MS)) : now;
      await tx.signingKey.create({
        data: { kid, publicJwk: JSON.stringify(publicJwk), sealedPrivateJwk, createdAt: now, signsFrom },
      });
      const retiresAt = new Date(signsFrom.getTime() + tokenTtlMs + CLOCK_MARGIN_MS);
      await tx.signingKey.updateMany({ where: { retiresAt: null, NOT: { kid } }, data: { retiresAt } });
      // Keys whose tokens have all expired are of no use any more, their private half included.
      await tx.signingKey.deleteMany({ where: { retiresAt: { lte: now } } });
      return { kid, signsFrom };
    });
    if (created) log.info({ kid: created.kid, signsFrom: created.signsFrom.toISOString() }, 'access tokens: signing key created');
  }

  async function load(): Promise<Loaded> {
    const now = clock.now();
    let keys = await published(now);
    if (successorDue(keys, now.getTime())) {
      await createSuccessor(now);
      keys = await published(now);
    }
    const newest = keys.at(-1)!;
    const events = [
      now.getTime() + REREAD_MS,
      newest.signsFrom.getTime() + ROTATION_MS - PUBLISH_AHEAD_MS,
      ...keys.flatMap((k) => (k.retiresAt ? [k.retiresAt.getTime()] : [])),
    ];
    return { keys, validUntil: Math.min(...events) };
  }

  /** The published keys, oldest first; read again once a minute or when one starts or retires. */
  async function keys(): Promise<SigningKey[]> {
    const now = clock.now().getTime();
    if (loaded && now < loaded.validUntil) return loaded.keys;
    loading ??= load().finally(() => {
      loading = null;
    });
    try {
      loaded = await loading;
    } catch (err) {
      // The database is away: the keys read last still sign and verify until it is back.
      if (!loaded) throw err;
      log.warn({ err: { message: (err as Error).message } }, 'access tokens: signing keys not re-read');
    }
    return loaded.keys;
  }

  function openPrivateKey(key: SigningKey): Promise<CryptoKey> {
    let opened = privateKeys.get(key.kid);
    if (!opened) {
      const jwk = JSON.parse(encryptor.open(key.sealedPrivateJwk, sealContext(key.kid))) as JWK;
      opened = importJWK(jwk, 'ES256') as Promise<CryptoKey>;
      privateKeys.set(key.kid, opened);
    }
    return opened;
  }

  return {
    /** The key that signs now, with its private half. */
    async current(): Promise<{ kid: string; privateKey: CryptoKey }> {
      const all = await keys();
      const now = clock.now().getTime();
      // An instance whose clock lags the one that made the first key still signs with it.
      const key = all.findLast((k) => k.signsFrom.getTime() <= now) ?? all[0]!;
      return { kid: key.kid, privateKey: await openPrivateKey(key) };
    },

    /** The public keys of the JWKS: the signing key, its announced successor, the retiring ones. */
    async publicJwks(): Promise<JWK[]> {
      const now = clock.now().getTime();
      const all = await keys();
      return all.filter((k) => !k.retiresAt || k.retiresAt.getTime() > now).map((k) => JSON.parse(k.publicJwk) as JWK);
    },

    /** How long a JWKS may be cached: never past the overlap before a successor signs or after a key retires. */
    cacheSeconds: Math.floor(Math.min(PUBLISH_AHEAD_MS, tokenTtlMs) / 1000),
  };
}

export type SigningKeys = ReturnType<typeof createSigningKeys>;
