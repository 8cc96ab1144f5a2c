import type { PasswordPolicy } from '../../../../config/policies.ts';
import { argon2Pool } from './argon2-pool.ts';

// Argon2id behind a bounded queue: at most `maxConcurrentHashes` hashes of this app run at once,
// on the process's pool of low-priority hashing threads (one per core, argon2-pool.ts), so a login
// storm saturates argon2 without taking the cores or libuv's threads from everyone else.

const ARGON2ID = 2; // Algorithm.Argon2id; the const enum is unusable under type stripping.

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the stored hash was made with other parameters than the current ones. */
  needsRehash(hash: string): boolean;
  /** Burns the time of one verify, so an unknown email answers as slowly as a wrong password. */
  verifyDummy(password: string): Promise<void>;
}

export function createPasswordHasher(policy: PasswordPolicy): PasswordHasher {
  const options = { algorithm: ARGON2ID, ...policy.argon2 };
  const gate = createGate(policy.maxConcurrentHashes);
  let dummyHash: Promise<string> | undefined;
  const expected = `$argon2id$v=19$m=${policy.argon2.memoryCost},t=${policy.argon2.timeCost},p=${policy.argon2.parallelism}$`;

  const hasher: PasswordHasher = {
    hash: (password) => gate(() => argon2Pool.hash(password, options)),
    verify: (stored, password) => gate(() => argon2Pool.verify(stored, password, options)).catch(() => false),
    needsRehash: (stored) => !stored.startsWith(expected),
    async verifyDummy(password) {
      dummyHash ??= hasher.hash('portcullis dummy password for timing');
      await hasher.verify(await dummyHash, password);
    },
  };
  return hasher;
}

function createGate(limit: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    // A finishing task hands its slot straight to the next waiter, so the limit is never exceeded.
    if (running < limit) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
