// Bootstrap of the first admin on a fresh install, where no admin exists to use GraphiQL:
//   npm run admin -- create --email ada@example.com [--password '…' | --password-stdin]
//   npm run admin -- promote --email ada@example.com
// Uses DATABASE_URL, or the embedded PostgreSQL of `npm start` when it is unset (the running
// service's, if it is up; else started here for the duration). Applies pending migrations first.
// Exit code 0 on success, 1 when the action failed, 2 on a usage error.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig, type Config } from '../src/config/env.ts';
import { ConfigError } from '../src/config/config-error.ts';
import { createCore, type Core } from '../src/core.ts';
import { AppError } from '../src/kernel/errors.ts';
import type { Actor } from '../src/modules/admin/admin.service.ts';
import { systemClock } from '../src/platform/clock.ts';
import { useEmbeddedPostgres } from '../src/platform/embedded-postgres.ts';
import { createLogger } from '../src/platform/logger.ts';
import { applyMigrations } from '../src/platform/migrate.ts';

const USAGE = `usage: npm run admin -- create --email <email> [--password <password> | --password-stdin]
       npm run admin -- promote --email <email>`;

class UsageError extends Error {}

function parse(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { email: { type: 'string' }, password: { type: 'string' }, 'password-stdin': { type: 'boolean' }, help: { type: 'boolean' } },
  });
  const [command, ...extra] = positionals;
  if (values.help) throw new UsageError('');
  if ((command !== 'create' && command !== 'promote') || extra.length) throw new UsageError('expected the command create or promote');
  if (!values.email) throw new UsageError('--email is required');
  if (command === 'promote' && (values.password !== undefined || values['password-stdin'])) throw new UsageError('promote takes no password');
  if (values.password !== undefined && values['password-stdin']) throw new UsageError('give --password or --password-stdin, not both');
  // A password on the command line shows in `ps` and shell history; stdin does not.
  const password = values['password-stdin'] ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : values.password;
  return { command, email: values.email, password };
}

/** The service's own composition root on DATABASE_URL or the embedded PostgreSQL, for one command. */
async function withCore<T>(config: Config, work: (core: Core) => Promise<T>): Promise<T> {
  // Only warnings, on stderr: stdout is the command's answer.
  const log = createLogger('warn', pino.destination(2));
  const embedded = config.databaseUrl ? undefined : await useEmbeddedPostgres(config.dataDir, log, config.embeddedPostgresPort);
  const url = config.databaseUrl ?? embedded!.url;
  try {
    await applyMigrations(url, log);
    // Shared with the service: with REDIS_URL, its audit events reach the live feed and its
    // changes are marked for every instance's session cache.
    const core = createCore({ config, databaseUrl: url, clock: systemClock, log });
    try {
      return await work(core);
    } finally {
      await core.close();
    }
  } finally {
    await embedded?.stop();
  }
}

async function run(argv: string[]): Promise<number> {
  const { command, email, password } = parse(argv);
  const config = loadConfig();
  return withCore(config, async ({ services: { admin } }) => {
    const actor: Actor = { userId: null, client: null, via: 'cli' };
    if (command === 'create') {
      const user = await admin.createUser(actor, { email, password, role: 'ADMIN' });
      console.log(`Created admin ${user.email} (id ${user.id})${user.passwordHash ? '' : ' without a password'}.`);
    } else {
      const { user, changed } = await admin.promote(actor, email);
      console.log(changed ? `Promoted ${user.email} (id ${user.id}) to ADMIN.` : `${user.email} (id ${user.id}) is already an admin.`);
    }
    return 0;
  });
}

let exitCode = 1;
try {
  exitCode = await run(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    if (err.message) console.error(`error: ${err.message}`);
    console.error(USAGE);
    exitCode = err.message ? 2 : 0;
  } else if (err instanceof AppError || err instanceof ConfigError) {
    const hint = err instanceof AppError && err.code === 'CONFLICT' ? ' (to make that account an admin: promote)' : '';
    console.error(`error: ${err.message}${hint}`);
    exitCode = 1;
  } else if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`error: ${err.message}\n${USAGE}`);
    exitCode = 2;
  } else {
    console.error('error:', err instanceof Error ? err.message : String(err));
    exitCode = 1;
  }
}
// Explicitly, with the code decided above: nothing left open may keep the process alive.
process.exit(exitCode);
