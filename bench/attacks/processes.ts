import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

// The bench's child processes (the app, the attacker): started with an IPC channel, talked to by
// typed messages, stopped politely or killed, never left behind.

export type Message = { type: string } & Record<string, unknown>;

export interface Child {
  process: ChildProcess;
  /** What it printed (the app's own console output: a library's warning, a stray trace). */
  output(): string[];
}

const live = new Set<ChildProcess>();

export function startChild(file: string, execArgv: string[] = []): Child {
  const child = spawn(process.execPath, [...execArgv, new URL(file, import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      lines.push(...chunk.split('\n').filter(Boolean));
      if (lines.length > 1000) lines.splice(0, lines.length - 1000);
    });
  }
  return { process: child, output: () => lines };
}

/** Kills whatever is still running (the bench is interrupted). */
export function killChildren() {
  for (const child of live) child.kill('SIGKILL');
}

export const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** The next message of `type` (or 'failed', also sent when the process exits), or undefined after `ms`. */
export function nextMessage(child: ChildProcess, type: string, ms: number): Promise<Message | undefined> {
  return new Promise((resolve) => {
    const onMessage = (message: Message) => {
      if (message?.type === type || message?.type === 'failed') finish(message);
    };
    const onExit = (code: number | null, signal: string | null) => finish({ type: 'failed', message: `exited (${signal ?? code})` });
    const timer = setTimeout(() => finish(undefined), ms);
    const finish = (message: Message | undefined) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    if (!running(child)) return finish({ type: 'failed', message: `exited (${child.signalCode ?? child.exitCode})` });
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export function required(message: Message | undefined, what: string, child?: Child): Message {
  if (message && message.type !== 'failed') return message;
  const output = child?.output().slice(-20).join('\n');
  throw new Error(`${what}: ${message ? String(message.message) : 'no answer'}${output ? `\n${output}` : ''}`);
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (!running(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Asks a process to finish with `message`, kills it when it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess | undefined, message: string, graceMs: number) {
  if (!child || !running(child)) return;
  const gone = exited(child, graceMs);
  if (graceMs > 0 && child.connected) child.send(message);
  if (!(await gone)) {
    child.kill('SIGKILL');
    await exited(child, 3000);
  }
}

/** Resident memory of a process, from /proc (no garbage collection first). */
export const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
