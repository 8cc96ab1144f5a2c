import { readdirSync, readFileSync } from 'node:fs';
import { parse, validate } from 'graphql';
import { expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.ts';

// The example client documents in operations/ are what frontends copy: they must stay valid.
const dir = new URL('../../operations/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.graphql'));

it('has example operations', () => {
  expect(files.length).toBeGreaterThan(0);
});

it.each(files)('operations/%s is valid against the schema', (file) => {
  const document = parse(readFileSync(new URL(file, dir), 'utf8'));
  expect(validate(getSchema(), document).map((e) => e.message)).toEqual([]);
});

it('covers every flow a mail or a revocation finishes (magic link, email code, reset, verification, sessionRevoked)', () => {
  const names = new Set(
    files.flatMap((f) =>
      parse(readFileSync(new URL(f, dir), 'utf8')).definitions.flatMap((d) => (d.kind === 'OperationDefinition' && d.name ? [d.name.value] : [])),
    ),
  );
  const flows = [
    'RequestMagicLink',
    'LoginWithMagicLink',
    'RequestEmailCode',
    'LoginWithEmailCode',
    'RequestPasswordReset',
    'ResetPassword',
    'RequestEmailVerification',
    'VerifyEmail',
    'SessionRevoked',
  ];
  expect(flows.filter((name) => !names.has(name))).toEqual([]);
});
