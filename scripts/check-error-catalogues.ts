import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sourceFiles } from './source-files.ts';

// House rule: a refusal is worded once, in its module's catalogue (`<module>-errors.ts`) or in the
// kernel's shared one. Elsewhere code throws from a catalogue; the kernel's bare factories (no
// message of their own: `forbidden()`) may be called anywhere. `npm run check` runs this from the
// repository root and names each line that words an error in place.
const CATALOGUE = /(^|\/)([a-z-]+-errors|kernel\/errors)\.ts$/;
/** An AppError built in place, or a kernel factory given a message of its own. */
const WORDED_IN_PLACE = /\bnew AppError\(|\b(badInput|unauthenticated|forbidden)\(\s*[^)\s]/;

export function errorsWordedInPlace(root: string): string[] {
  return sourceFiles(join(root, 'src'), /\.ts$/, new Set(['generated']))
    .map((path) => path.slice(root.length + 1))
    .filter((path) => !CATALOGUE.test(path))
    .flatMap((path) =>
      readFileSync(join(root, path), 'utf8')
        .split('\n')
        .flatMap((line, i) => (WORDED_IN_PLACE.test(line) ? [`${path}:${i + 1}: ${line.trim()}`] : [])),
    );
}

if (import.meta.main) {
  const found = errorsWordedInPlace(process.cwd());
  for (const line of found) console.error(`error-catalogues: worded in place, move it to the module's *-errors.ts: ${line}`);
  if (found.length > 0) process.exit(1);
}
