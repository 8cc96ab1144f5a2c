import { readdirSync, readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';
import { expect, it } from 'vitest';

// The Terraform module and its example, checked without Terraform: every file parses, every
// variable has a type and a description, every output a description, and the module installs the
// chart of this repository with the helm provider.

const dir = new URL('../../deploy/terraform/', import.meta.url);
const files = [
  ...readdirSync(dir).filter((f) => f.endsWith('.tf')),
  ...readdirSync(new URL('examples/', dir)).flatMap((e) =>
    readdirSync(new URL(`examples/${e}/`, dir))
      .filter((f) => f.endsWith('.tf'))
      .map((f) => `examples/${e}/${f}`),
  ),
];
const parsed = async (file: string) => (await parse(file, readFileSync(new URL(file, dir), 'utf8'))) as Record<string, any>;

it('parses every file of the module and of its examples', async () => {
  expect(files).toEqual(expect.arrayContaining(['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf', 'examples/basic/main.tf']));
  for (const file of files) expect(Object.keys(await parsed(file)).length, file).toBeGreaterThan(0);
});

it('gives every variable a type and a description, and every output a description', async () => {
  let variables = 0;
  for (const file of files) {
    const tf = await parsed(file);
    for (const [name, [v]] of Object.entries<any[]>(tf.variable ?? {})) {
      variables++;
      expect(v.type, `${file}: variable ${name} has no type`).toBeTruthy();
      expect(v.description, `${file}: variable ${name} has no description`).toMatch(/\S{3,}/);
    }
    for (const [name, [o]] of Object.entries<any[]>(tf.output ?? {})) expect(o.description, `${file}: output ${name}`).toMatch(/\S{3,}/);
  }
  expect(variables).toBeGreaterThan(10);
});

it('validates what it can and keeps credentials out of the release values', async () => {
  const variables = (await parsed('variables.tf')).variable;
  for (const name of ['release_name', 'public_url', 'frontend_url', 'api_replicas', 'autoscaling', 'secrets']) {
    expect(variables[name][0].validation, name).toBeDefined();
  }
  expect(variables.secrets[0].sensitive).toBe(true);
  const main = await parsed('main.tf');
  const release = main.resource.helm_release.portcullis[0];
  expect(release.chart).toContain('../helm/portcullis');
  expect(JSON.stringify(release.values)).not.toContain('var.secrets');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Terraform interpolation, kept as written
  expect(main.resource.kubernetes_secret_v1.credentials[0].data).toBe('${var.secrets}');
  const versions = (await parsed('versions.tf')).terraform[0].required_providers[0];
  expect(Object.keys(versions).sort()).toEqual(['helm', 'kubernetes']);
});
