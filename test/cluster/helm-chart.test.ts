import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

// The Helm chart, checked without Helm (no Helm, Kubernetes or Docker engine on this machine):
// values validate against values.schema.json, bad values do not, and every variable the service
// reads (src/config/) or documents (API.md "Environment") reaches the containers.

const root = new URL('../../', import.meta.url);
const chart = new URL('deploy/helm/portcullis/', root);
const read = (url: URL) => readFileSync(url, 'utf8');
const schema = JSON.parse(read(new URL('values.schema.json', chart)));
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
const values = parse(read(new URL('values.yaml', chart)));
const examples = readdirSync(new URL('examples/', chart)).filter((f) => f.endsWith('.yaml'));

/** Helm merges an install's values over values.yaml: maps deeply, everything else replaced. */
function merge(base: any, over: any): any {
  if (!over || typeof over !== 'object' || Array.isArray(over)) return over ?? base;
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base?.[k], v);
  return out;
}

describe('values.schema.json', () => {
  it('accepts values.yaml', () => {
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(examples)('accepts examples/%s merged over values.yaml', (file) => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
    const merged = merge(values, parse(read(new URL(`examples/${file}`, chart))));
    expect(validate(merged), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['a public URL that is not a URL', { config: { publicUrl: 'auth.example.com' } }],
    ['an unknown log level', { config: { logLevel: 'verbose' } }],
    ['a misspelt setting', { config: { sesionCookie: true } }],
    ['a DATABASE_URL that is not PostgreSQL', { secrets: { values: { DATABASE_URL: 'mysql://db/x' } } }],
    ['an OAuth provider id with spaces', { config: { oauthProviders: [{ id: 'my corp', clientId: 'x' }] } }],
    ['zero API replicas', { api: { replicas: 0 } }],
    ['a grace period shorter than the drain', { api: { terminationGracePeriodSeconds: 5 } }],
  ])('refuses %s', (_what, override) => {
    expect(validate(merge(values, override))).toBe(false);
  });
});

describe('the containers environment', () => {
  const envTemplate = read(new URL('templates/_env.tpl', chart));
  const deployments = ['deployment-api.yaml', 'deployment-worker.yaml', 'migration-job.yaml'].map((f) => read(new URL(`templates/${f}`, chart)));
  const wired = (name: string) => new RegExp(`name: ${name}\\b`).test(envTemplate);

  it('is included in the API and worker Deployments and the migration Job, which each set RUN_WORKERS', () => {
    for (const template of deployments) {
      expect(template).toContain('include "portcullis.env" .');
      expect(template).toMatch(/name: RUN_WORKERS/);
    }
  });

  it('wires every variable src/config/ reads', () => {
    const source = readdirSync(new URL('src/config/', root))
      .map((f) => read(new URL(`src/config/${f}`, root)))
      .join('\n');
    const schemaBlock = /const envSchema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(source)![1]!;
    const names = [...schemaBlock.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!).filter((n) => n !== 'RUN_WORKERS');
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n) => !wired(n))).toEqual([]);
    // Per-provider OAuth variables: `${key}_CLIENT_ID` and the like, key = OAUTH_<ID>.
    const suffixes = [...new Set([...source.matchAll(/\$\{key\}_([A-Z_]+)/g)].map((m) => m[1]!))];
    expect(suffixes).toContain('CLIENT_SECRET');
    expect(suffixes.filter((s) => !envTemplate.includes(`{{ $key }}_${s}`))).toEqual([]);
  });

  /** Variable names of a Markdown table: the first column, and any other variable named in it. */
  const tableVariables = (text: string, heading: string) => {
    const at = text.indexOf(heading);
    const table = text.slice(at, text.indexOf('\n## ', at + heading.length));
    const firstColumn = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]+)`/gm)].map((m) => m[1]!);
    const mentioned = [...table.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`/g)].map((m) => m[1]!);
    return [...new Set([...firstColumn, ...mentioned])].filter((n) => n !== 'RUN_WORKERS' && !/^OAUTH_GITHUB_/.test(n));
  };

  it("wires every variable of the README's Configuration table and, beside the repository, API.md's Environment", () => {
    const documented = tableVariables(read(new URL('README.md', root)), '## Configuration');
    expect(documented).toContain('ENCRYPTION_KEYS_OLD');
    // The contract lives beside the repository while it is being built; a checkout alone has the README.
    const contract = new URL('../shared/API.md', root);
    if (existsSync(contract)) documented.push(...tableVariables(read(contract), '## Environment'));
    expect([...new Set(documented)].filter((n) => !wired(n))).toEqual([]);
  });

  it('takes credentials from the Secret, never from plain values', () => {
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'SENDGRID_API_KEY', 'METRICS_TOKEN', 'ENCRYPTION_KEY', 'ENCRYPTION_KEYS_OLD']) {
      expect(envTemplate).not.toMatch(new RegExp(`name: ${name}, value:`));
    }
    expect(envTemplate).toMatch(/name: DATABASE_URL\n\s+valueFrom: \{ secretKeyRef:/);
    for (const name of ['REDIS_URL', 'SENDGRID_API_KEY', 'METRICS_TOKEN', 'ENCRYPTION_KEY', 'ENCRYPTION_KEYS_OLD']) {
      expect(envTemplate).toMatch(new RegExp(`name: ${name}\\n\\s+valueFrom: \\{ secretKeyRef:`));
    }
    expect(envTemplate).toMatch(/_CLIENT_SECRET\n\s+valueFrom: \{ secretKeyRef:/);
  });
});

describe('the API Deployment', () => {
  const api = read(new URL('templates/deployment-api.yaml', chart));
  it('probes /health and /ready, runs read-only and non-root, and lets the drain finish', () => {
    expect(api).toMatch(/livenessProbe:\n\s+httpGet: \{ path: \/health/);
    expect(api).toMatch(/readinessProbe:\n\s+httpGet: \{ path: \/ready/);
    expect(read(new URL('templates/_helpers.tpl', chart))).toMatch(/readOnlyRootFilesystem: true[\s\S]*allowPrivilegeEscalation: false/);
    expect(values.securityContext.runAsUser).toBe(10001);
    expect(read(new URL('Dockerfile', root))).toMatch(/--uid 10001/);
    // preStop + drain (5 s) + the service's own 15 s deadline fit in the grace period.
    expect(values.api.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(values.api.preStopSeconds + 20);
    expect(api).toContain('args: ["node", "src/main.ts"]');
  });

  it('runs migrations in a pre-install/pre-upgrade hook, after the Secret it reads', () => {
    const job = read(new URL('templates/migration-job.yaml', chart));
    const secret = read(new URL('templates/secret.yaml', chart));
    expect(job).toMatch(/helm\.sh\/hook: pre-install,pre-upgrade/);
    const weight = (t: string) => Number(/helm\.sh\/hook-weight: "(-?\d+)"/.exec(t)![1]);
    expect(weight(secret)).toBeLessThan(weight(job));
    expect(job).toContain("import('./src/platform/migrate.ts')");
  });
});
