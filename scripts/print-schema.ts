// Writes schema.graphql from the Pothos schema (sorted). test/integration/schema-printed.test.ts
// fails when the committed file is stale.
import { writeFileSync } from 'node:fs';
import { printedSchema } from '../src/graphql/schema.ts';

const target = new URL('../schema.graphql', import.meta.url);
writeFileSync(target, printedSchema());
console.log(`wrote ${target.pathname}`);
