import type { Row } from './round.ts';

// The report: one aligned plain-text line per attack.

const HEADERS = ['attack', 'sent', 'answers', 'loop max ms', 'loop p99 ms', '/health max ms', 'RSS +MB', 'wall s', 'note'];
const NUMERIC = new Set([1, 3, 4, 5, 6, 7]);

const fixed = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

function answers(row: Row): string {
  const parts = Object.entries(row.tally.answers)
    .sort(([, a], [, b]) => b - a)
    .map(([answer, n]) => `${answer} x${n}`);
  if (row.timedOut) parts.unshift('TIMED OUT');
  if (row.appExited) parts.unshift(row.appExited.toUpperCase());
  return parts.join(', ') || '-';
}

function note(row: Row): string {
  const notes = [row.tally.note];
  if (row.errorLines) notes.push(`${row.errorLines} error lines logged`);
  if (row.healthFailures) notes.push(`${row.healthFailures} /health probes failed`);
  if (row.consoleLines) notes.push(`${row.consoleLines} lines on the app's console`);
  if (row.rssWithoutGc) notes.push('RSS read without gc');
  return notes.filter(Boolean).join('; ');
}

export function cells(row: Row): string[] {
  // A stuck loop cannot report its histogram; /health waited that long for it, at least.
  const stuck = row.timedOut ? `>${fixed(Math.floor(row.healthWorstMs / 1000) * 1000)}` : undefined;
  return [
    row.attack,
    String(row.tally.sent),
    answers(row),
    stuck ?? fixed(row.delayMaxMs),
    row.timedOut ? '-' : fixed(row.delayP99Ms, 1),
    fixed(row.healthWorstMs),
    `${row.rssGrowthBytes >= 0 ? '+' : ''}${fixed(row.rssGrowthBytes / 2 ** 20, 1)}`,
    fixed(row.wallSeconds, 1),
    note(row),
  ];
}

export function formatTable(rows: Row[]): string {
  const lines = [HEADERS, ...rows.map(cells)];
  const widths = HEADERS.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  const format = (line: string[]) =>
    line
      .map((cell, c) => (NUMERIC.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [format(lines[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(format)].join('\n');
}
