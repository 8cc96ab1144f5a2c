import { hashSync, verifySync, type Options } from '@node-rs/argon2';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';

// One hashing thread of the pool in argon2-pool.ts. It runs below the event loop's priority (on
// Linux the nice value is per thread), so a login storm takes the cores only when nothing else
// wants them: session checks and everything else keep answering while hashes wait.

const BELOW_NORMAL = 10;
try {
  setPriority(BELOW_NORMAL);
} catch {
  // Not allowed here: the pool still bounds hashing to one hash per core.
}

export type Argon2Request = { options: Options } & ({ op: 'hash'; password: string } | { op: 'verify'; hash: string; password: string });
type Argon2Task = Argon2Request & { id: number };
export type Argon2Reply = { id: number; result: string | boolean } | { id: number; failed: true };

parentPort!.on('message', (task: Argon2Task) => {
  try {
    const result = task.op === 'hash' ? hashSync(task.password, task.options) : verifySync(task.hash, task.password, task.options);
    parentPort!.postMessage({ id: task.id, result } satisfies Argon2Reply);
  } catch {
    // The reason (a malformed stored hash, say) is not worth a message that could quote input.
    parentPort!.postMessage({ id: task.id, failed: true } satisfies Argon2Reply);
  }
});
