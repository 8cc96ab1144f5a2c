import { attacks } from './scenarios.ts';
import type { AttackContext, Tally } from './traffic.ts';

// The attacker: a child process of the bench (its work and memory stay out of the server's
// figures). Protocol over IPC: the bench sends { attack, url, token, metricsToken, deadline };
// this process sends 'progress' tallies while it runs, then 'result', holds its sockets and
// streams open until 'release', then exits. It also exits when the bench goes away.

export interface RunRequest {
  attack: string;
  url: string;
  token: string;
  metricsToken: string;
  deadline: number;
}

const send = (message: unknown) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

process.once('message', async (request: RunRequest) => {
  const attack = attacks.find((a) => a.name === request.attack);
  const tally: Tally = { sent: 0, answers: {} };
  const releases: Array<() => void | Promise<void>> = [];
  const ctx: AttackContext = { ...request, tally, onRelease: (release) => releases.push(release) };
  const progress = setInterval(() => send({ type: 'progress', tally }), 250);
  try {
    if (!attack) throw new Error(`unknown attack "${request.attack}"`);
    await attack.run(ctx);
    send({ type: 'result', tally });
  } catch (err) {
    send({ type: 'failed', message: (err as Error).stack ?? String(err) });
  } finally {
    clearInterval(progress);
  }
  process.once('message', async () => {
    await Promise.race([Promise.all(releases.map((release) => release())), new Promise((r) => setTimeout(r, 2000))]);
    process.exit(0);
  });
});

send({ type: 'ready' });
