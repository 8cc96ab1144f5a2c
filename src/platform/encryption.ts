import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

// Encryption at rest for the secrets the service must read back (TOTP secrets, signing keys,
// webhook secrets): AES-256-GCM under ENCRYPTION_KEY. A sealed value names the key that sealed it,
// so after a rotation the old keys (ENCRYPTION_KEYS_OLD) still open what they sealed while every
// new value is sealed with the current key. `context` binds a value to where it belongs (say
// "webhook:<id>"): a ciphertext copied into another row or column does not open there.

const VERSION = 'v1';
const IV_BYTES = 12;
export const KEY_BYTES = 32;

export interface Encryptor {
  seal(plain: string, context: string): string;
  /** Throws when the value was not sealed by one of our keys for this context, or was altered. */
  open(sealed: string, context: string): string;
  /** Whether `sealed` was sealed with an old key (worth sealing again with the current one). */
  isStale(sealed: string): boolean;
}

/** A short public name of a key, stored with each value it seals. */
const keyId = (key: Buffer) => createHash('sha256').update(key).digest('base64url').slice(0, 8);

export function createEncryptor(current: Buffer, old: readonly Buffer[] = []): Encryptor {
  for (const key of [current, ...old]) {
    if (key.length !== KEY_BYTES) throw new Error(`an encryption key must be ${KEY_BYTES} bytes`);
  }
  const currentId = keyId(current);
  const keys = new Map([...old, current].map((key) => [keyId(key), key] as const));

  return {
    seal(plain, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [VERSION, currentId, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    open(sealed, context) {
      const [version, id, iv, body, tag] = sealed.split('.');
      const key = id === undefined ? undefined : keys.get(id);
      if (version !== VERSION || !key || iv === undefined || body === undefined || tag === undefined) {
        throw new Error('not a value sealed by a known encryption key');
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
    isStale: (sealed) => sealed.split('.')[1] !== currentId,
  };
}

/** A base64 key of ENCRYPTION_KEY / ENCRYPTION_KEYS_OLD, or null when it is not 32 bytes of base64. */
export function parseKey(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return null;
  const key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  return key.length === KEY_BYTES ? key : null;
}

/**
 * The development key: generated once and kept in `<dataDir>/encryption-key` (mode 0600), so a
 * restart reads what it sealed before. Production never gets here (config requires ENCRYPTION_KEY).
 */
export function developmentKey(dataDir: string): Buffer {
  const file = resolve(dataDir, 'encryption-key');
  mkdirSync(resolve(dataDir), { recursive: true });
  // Written aside, then linked into place: two processes starting at once agree on one key, and
  // neither ever reads a half-written file.
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(draft);
  }
  const key = parseKey(readFileSync(file, 'utf8').trim());
  if (!key) throw new Error(`${file} does not hold a 32-byte base64 key; delete it to have a new one made`);
  return key;
}
