import type { Options } from '@node-rs/argon2';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Argon2Reply, Argon2Request } from './argon2-worker.ts';

// Argon2id on a pool of worker threads, one per core, started on the first hash: each thread runs
// one hash at a time (the rest wait their turn here), below the event loop's priority, and none of
// it uses libuv's thread pool (DNS, crypto and zlib keep it). One pool per process: every app in
// it shares the cores.

type Pending = { resolve: (value: string | boolean) => void; reject: (err: Error) => void };
type Job = { task: Argon2Request; pending: Pending };

const size = Math.max(1, availableParallelism());
const idle: Worker[] = [];
const waiting: Job[] = [];
const inFlight = new Map<number, Pending & { worker: Worker }>();
let started = 0;
let nextId = 0;

function startWorker(): Worker {
  // The hashing itself is native memory; the thread's own JavaScript needs a few MB at most.
  const worker = new Worker(new URL('./argon2-worker.ts', import.meta.url), {
    resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 4 },
  });
  worker.unref(); // an idle pool never keeps the process alive
  worker.on('message', (reply: Argon2Reply) => {
    const pending = inFlight.get(reply.id);
    if (!pending) return;
    inFlight.delete(reply.id);
    if ('failed' in reply) pending.reject(new Error('argon2 failed'));
    else pending.resolve(reply.result);
    release(worker);
  });
  worker.on('error', () => replace(worker));
  worker.on('exit', () => replace(worker));
  return worker;
}

/** A worker that died fails its task; a new one takes its place on the next hash. */
function replace(worker: Worker): void {
  for (const [id, pending] of inFlight) {
    if (pending.worker !== worker) continue;
    inFlight.delete(id);
    pending.reject(new Error('argon2 worker stopped'));
    started--;
  }
  const at = idle.indexOf(worker);
  if (at >= 0) {
    idle.splice(at, 1);
    started--;
  }
}

function run(worker: Worker, job: Job): void {
  const id = nextId++;
  inFlight.set(id, { ...job.pending, worker });
  worker.ref(); // a hash in progress keeps the process until it answers
  worker.postMessage({ ...job.task, id });
}

function release(worker: Worker): void {
  const next = waiting.shift();
  if (next) {
    run(worker, next);
    return;
  }
  worker.unref();
  idle.push(worker);
}

function submit(task: Argon2Request): Promise<string | boolean> {
  return new Promise((resolve, reject) => {
    const job = { task, pending: { resolve, reject } };
    const worker = idle.pop() ?? (started < size ? (started++, startWorker()) : undefined);
    if (worker) run(worker, job);
    else waiting.push(job);
  });
}

export const argon2Pool = {
  hash: (password: string, options: Options) => submit({ op: 'hash', password, options }) as Promise<string>,
  verify: (hash: string, password: string, options: Options) => submit({ op: 'verify', hash, password, options }) as Promise<boolean>,
};
