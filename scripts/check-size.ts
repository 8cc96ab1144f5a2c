import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sourceFiles } from './source-files.ts';

// House rule: no file over 300 lines in src/, test/ or bench/ (tests too). `npm run check` runs this
// from the repository root; it exits non-zero and names each file over the limit.
export const MAX_LINES = 300;
const CHECKED_DIRS = ['src', 'test', 'bench'];
const SKIPPED_DIRS = new Set(['generated', 'node_modules']);
const SOURCE_FILE = /\.(ts|js|mjs|cjs|css|html)$/;

export function lineCount(text: string): number {
  if (text === '') return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

export function oversizedFiles(root: string): { path: string; lines: number }[] {
  return CHECKED_DIRS.flatMap((dir) => sourceFiles(join(root, dir), SOURCE_FILE, SKIPPED_DIRS))
    .map((path) => ({ path: path.slice(root.length + 1), lines: lineCount(readFileSync(path, 'utf8')) }))
    .filter(({ lines }) => lines > MAX_LINES)
    .sort((a, b) => b.lines - a.lines);
}

if (import.meta.main) {
  const oversized = oversizedFiles(process.cwd());
  for (const { path, lines } of oversized) console.error(`file-size: ${path} has ${lines} lines (max ${MAX_LINES})`);
  if (oversized.length > 0) process.exit(1);
}
