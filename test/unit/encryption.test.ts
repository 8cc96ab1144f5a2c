import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEncryptor, developmentKey, parseKey } from '../../src/platform/encryption.ts';

// Encryption at rest (src/platform/encryption.ts): AES-256-GCM bound to a context, key rotation,
// and the development key kept under DATA_DIR.

const keyA = Buffer.alloc(32, 1);
const keyB = Buffer.alloc(32, 2);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('sealing', () => {
  const box = createEncryptor(keyA);

  it('opens what it sealed, and the sealed form holds nothing of the secret', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'totp:user-1');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.open(sealed, 'totp:user-1')).toBe('JBSWY3DPEHPK3PXP');
    // A fresh nonce each time: the same secret never seals alike.
    expect(box.seal('JBSWY3DPEHPK3PXP', 'totp:user-1')).not.toBe(sealed);
  });

  it('refuses another context, a changed byte, and a value sealed under an unknown key', () => {
    const sealed = box.seal('secret', 'webhook:1');
    expect(() => box.open(sealed, 'webhook:2')).toThrow();
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0]! ^= 1;
    parts[3] = body.toString('base64url');
    expect(() => box.open(parts.join('.'), 'webhook:1')).toThrow();
    expect(() => createEncryptor(keyB).open(sealed, 'webhook:1')).toThrow(/known encryption key/);
    expect(() => box.open('not sealed at all', 'webhook:1')).toThrow(/known encryption key/);
  });

  it('after a rotation, old keys still open what they sealed, and new values use the current key', () => {
    const before = createEncryptor(keyA).seal('kept', 'key:1');
    const rotated = createEncryptor(keyB, [keyA]);
    expect(rotated.open(before, 'key:1')).toBe('kept');
    expect(rotated.isStale(before)).toBe(true);
    const after = rotated.seal('kept', 'key:1');
    expect(rotated.isStale(after)).toBe(false);
    expect(() => createEncryptor(keyA).open(after, 'key:1')).toThrow();
  });

  it('takes only 32-byte keys', () => {
    expect(() => createEncryptor(Buffer.alloc(16))).toThrow(/32 bytes/);
    expect(parseKey(keyA.toString('base64'))).toEqual(keyA);
    expect(parseKey(keyA.toString('base64url'))).toEqual(keyA);
    expect(parseKey(Buffer.alloc(31).toString('base64'))).toBeNull();
    expect(parseKey('not base64!')).toBeNull();
  });
});

describe('the development key', () => {
  it('is made once, readable only by its owner, and the same for every process that asks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-key-'));
    dirs.push(dir);
    const keys = Array.from({ length: 5 }, () => developmentKey(join(dir, 'data')));
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(1);
    expect(keys[0]).toHaveLength(32);
    const file = join(dir, 'data', 'encryption-key');
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(parseKey(readFileSync(file, 'utf8').trim())).toEqual(keys[0]);
  });
});
