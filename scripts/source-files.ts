import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The files under `dir` whose names match `include`, walking past the folders named in `skip`. */
export function sourceFiles(dir: string, include: RegExp, skip: ReadonlySet<string>): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return skip.has(entry.name) ? [] : sourceFiles(path, include, skip);
    return include.test(entry.name) ? [path] : [];
  });
}
