import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/env.ts';
import { ConfigError } from '../../src/config/config-error.ts';

// The environment contract of API.md ("Environment"): a bad value stops the start with a message
// that names the variable, the defaults are the documented ones, and the parsed config is frozen.

/** A 32-byte key, base64, as ENCRYPTION_KEY takes it. */
const KEY = Buffer.alloc(32, 1).toString('base64');
const root = fileURLToPath(new URL('../..', import.meta.url));

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('invalid values', () => {
  it.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['REDIS_URL', { REDIS_URL: 'http://x' }],
    ['PUBLIC_URL', { PUBLIC_URL: 'notaurl' }],
    ['FRONTEND_URL', { FRONTEND_URL: 'ftp://x' }],
    ['SENDGRID_API_URL', { SENDGRID_API_URL: 'javascript:alert(1)' }],
    ['ALLOWED_REDIRECTS', { ALLOWED_REDIRECTS: 'https://ok.example,notaurl' }],
    ['SESSION_COOKIE', { SESSION_COOKIE: 'maybe' }],
    ['GRAPHIQL', { GRAPHIQL: 'yes' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['OAUTH_CORP_ISSUER', { OAUTH_PROVIDERS: 'corp' }],
    ['OAUTH_CORP_CLIENT_ID', { OAUTH_PROVIDERS: 'corp', OAUTH_CORP_ISSUER: 'https://id.example' }],
    ['OAUTH_PROVIDERS', { OAUTH_PROVIDERS: 'bad id!' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'nonsense' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/33' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.1,10.0.0.0/' }],
    ['TRUST_PROXY', { TRUST_PROXY: '::1/129' }],
  ] as const)('%s: %j throws a ConfigError naming the variable', (name, env) => {
    const err = configError(env);
    expect(err.message).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('accepts valid TRUST_PROXY addresses and CIDRs, and an app can be built with them', async () => {
    const config = loadConfig({ TRUST_PROXY: '10.0.0.1, 10.0.0.0/8,::1,fd00::/8' });
    expect(config.trustProxy).toEqual(['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
    // Building the app does not connect anywhere; it must not reject what the config accepted.
    const app = createApp({ config, databaseUrl: 'postgresql://127.0.0.1:1/none' });
    expect(app.server.listening).toBe(false);
    await app.close();
  });

  it('accepts the providers with a known issuer (google) or none needed (github)', () => {
    const config = loadConfig({
      OAUTH_PROVIDERS: 'google,github',
      OAUTH_GOOGLE_NAME: 'Google',
      OAUTH_GOOGLE_CLIENT_ID: 'g',
      OAUTH_GITHUB_CLIENT_ID: 'gh',
    });
    expect(config.oauthProviders.map((p) => [p.id, p.name, p.issuer])).toEqual([
      ['google', 'Google', 'https://accounts.google.com'],
      ['github', 'github', undefined],
    ]);
  });
});

describe('defaults (API.md Environment table)', () => {
  const config = loadConfig({});

  it('matches the documented defaults', () => {
    expect(config).toMatchObject({
      production: false,
      port: 4000,
      redisPrefix: 'portcullis:',
      publicUrl: 'http://localhost:4000',
      frontendUrl: 'http://localhost:4000',
      corsOrigins: ['http://localhost:4000'],
      allowedRedirects: [],
      mailFrom: 'Portcullis <no-reply@localhost>',
      sendgridApiUrl: 'https://api.sendgrid.com',
      oauthProviders: [],
      sessionCookie: false,
      adminEmails: [],
      trustProxy: [],
      logLevel: 'info',
      graphiql: true,
      introspection: true,
    });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.sendgridApiKey).toBeUndefined();
  });

  it('treats an empty PORT as unset', () => {
    expect(loadConfig({ PORT: '' }).port).toBe(4000);
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080);
  });

  it('derives CORS_ORIGINS from the origin of FRONTEND_URL unless given', () => {
    expect(loadConfig({ FRONTEND_URL: 'https://app.example.com/portal/' }).corsOrigins).toEqual(['https://app.example.com']);
    expect(loadConfig({ FRONTEND_URL: 'https://app.example.com', CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });

  it('reads booleans and lists', () => {
    expect(loadConfig({ SESSION_COOKIE: 'true' }).sessionCookie).toBe(true);
    expect(loadConfig({ SESSION_COOKIE: '1' }).sessionCookie).toBe(true);
    expect(loadConfig({ SESSION_COOKIE: 'false' }).sessionCookie).toBe(false);
    expect(loadConfig({ ADMIN_EMAILS: 'Root@Example.com, ops@example.com' }).adminEmails).toEqual(['root@example.com', 'ops@example.com']);
  });

  it('requires ENCRYPTION_KEY in production: 32 bytes of base64, old keys likewise', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/ENCRYPTION_KEY: required in production/);
    expect(() => loadConfig({ ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') })).toThrow(/ENCRYPTION_KEY/);
    expect(() => loadConfig({ ENCRYPTION_KEYS_OLD: `${KEY},short` })).toThrow(/ENCRYPTION_KEYS_OLD/);
    expect(loadConfig({ ENCRYPTION_KEY: KEY, ENCRYPTION_KEYS_OLD: KEY })).toMatchObject({ encryptionKey: KEY, encryptionKeysOld: [KEY] });
    expect(loadConfig({}).encryptionKey).toBeUndefined();
  });

  it('turns GraphiQL and introspection off in production; GRAPHIQL overrides only GraphiQL', () => {
    const prod = loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEY: KEY });
    expect(prod).toMatchObject({ production: true, graphiql: false, introspection: false });
    expect(loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEY: KEY, GRAPHIQL: 'true' })).toMatchObject({ graphiql: true, introspection: false });
    expect(loadConfig({ GRAPHIQL: 'false' })).toMatchObject({ graphiql: false, introspection: true });
  });

  it('is frozen, nested objects included', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.session)).toBe(true);
    expect(Object.isFrozen(config.password.argon2)).toBe(true);
    expect(Object.isFrozen(config.corsOrigins)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config.session as { idleTimeoutMs: number }).idleTimeoutMs = 1;
    }).toThrow(TypeError);
    expect(config.port).toBe(4000);
    // Each call gets its own objects, so freezing one config never touches the shared policy defaults.
    expect(loadConfig({}).session).not.toBe(config.session);
  });
});

describe('the real entry point', () => {
  // Should the check regress, the process would start an embedded PostgreSQL here, not in .data/.
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/' }],
  ])('exits non-zero naming %s, before starting anything', (name, env) => {
    const started = Date.now();
    const run = spawnSync(process.execPath, ['src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', DATA_DIR: dataDir, ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.signal).toBeNull();
    expect(run.status).not.toBe(0);
    expect(run.status).not.toBeNull();
    expect(run.stderr).toMatch(new RegExp(`\\b${name}\\b`));
    // A clean message, not a crash with a stack trace.
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
