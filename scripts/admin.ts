// Bootstrap of the first admin on a fresh install, where no admin exists to use GraphiQL:
//   npm run admin -- create --email ada@example.com [--password '…' | --password-stdin]
//   npm run admin -- promote --email ada@example.com
// Uses DATABASE_URL, or the embedded PostgreSQL of `npm start` when it is unset (the running
// service's, if it is up; else started here for the duration). Applies pending migrations first.
// Exit code 0 on success, 1 when the action failed, 2 on a usage error.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from '../src/config/env.ts';
import { AppError } from '../src/kernel/errors.ts';
import { createAdminService, type Actor } from '../src/modules/admin/admin.service.ts';
import { createAuditService } from '../src/modules/audit/audit.service.ts';
import { createPasswordHasher } from '../src/modules/auth/strategies/password/password-hasher.ts';
import { createSessionsService } from '../src/modules/sessions/sessions.service.ts';
import { createOneTimeTokens } from '../src/modules/tokens/one-time-tokens.ts';
import { createThrottle } from '../src/modules/rate-limit/throttle.ts';
import { createUsersService } from '../src/modules/users/users.service.ts';
import { systemClock } from '../src/platform/clock.ts';
import { createDb, type Db } from '../src/platform/db.ts';
import { embeddedDatabaseUrl, startEmbeddedPostgres, type EmbeddedDatabase } from '../src/platform/embedded-postgres.ts';
import { createEvents } from '../src/platform/events.ts';
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

/** The embedded database of a service that is already running answers; else none does. */
async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function withDatabase<T>(config: Config, work: (db: Db) => Promise<T>): Promise<T> {
  // Only warnings, on stderr: stdout is the command's answer.
  const log = createLogger('warn', pino.destination(2));
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (!url) {
    url = embeddedDatabaseUrl(config.embeddedPostgresPort);
    if (!(await answers(url))) embedded = await startEmbeddedPostgres(config.dataDir, log, config.embeddedPostgresPort);
  }
  const db = createDb(url, 2);
  try {
    await applyMigrations(url, log);
    return await work(db);
  } finally {
    await db.$disconnect();
    await embedded?.stop();
  }
}

async function run(argv: string[]): Promise<number> {
  const { command, email, password } = parse(argv);
  const config = loadConfig();
  return withDatabase(config, async (db) => {
    const clock = systemClock;
    // Events reach the admins' live feed when the service shares a Redis with us.
    const events = createEvents({ redisUrl: config.redisUrl, prefix: config.redisPrefix, log: createLogger('silent') });
    try {
      const audit = createAuditService({ db, clock, onRecorded: (event) => events.publishAuditEvent(event) });
      const hasher = createPasswordHasher(config.password);
      const tokens = createOneTimeTokens({ db, clock });
      const sessions = createSessionsService({ db, clock, policy: config.session, audit, tokens });
      const users = createUsersService({ db, clock, config, hasher, sessions, audit });
      const admin = createAdminService({ db, clock, users, sessions, audit, throttle: createThrottle({ db, clock }) });
      const actor: Actor = { userId: null, client: null, via: 'cli' };
      if (command === 'create') {
        const user = await admin.createUser(actor, { email, password, role: 'ADMIN' });
        console.log(`Created admin ${user.email} (id ${user.id})${user.passwordHash ? '' : ' without a password'}.`);
      } else {
        const { user, changed } = await admin.promote(actor, email);
        console.log(changed ? `Promoted ${user.email} (id ${user.id}) to ADMIN.` : `${user.email} (id ${user.id}) is already an admin.`);
      }
      return 0;
    } finally {
      await events.close();
    }
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
// Explicitly: embedded-postgres hooks `beforeExit` and would end the process with 0 whatever
// process.exitCode says.
process.exit(exitCode);
