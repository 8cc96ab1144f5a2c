// A limit is "N attempts per window, counted per key", where the key is built from the caller's
// IP, the email the operation is about, or the signed-in user. Rules are written compactly, as in
// RATE_LIMITS: `login=10/15m:IP+EMAIL,100/15m:IP;register=10/1h:IP`.

export const rateLimitKeys = ['IP', 'EMAIL', 'USER'] as const;
export type RateLimitKey = (typeof rateLimitKeys)[number];

export interface RateLimitRule {
  limit: number;
  /** As written: "15m", "1h", "30s", "1d". */
  window: string;
  by: RateLimitKey[];
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export function windowSeconds(window: string): number {
  const match = /^(\d+)([smhd])$/.exec(window);
  if (!match) throw new Error(`invalid rate-limit window "${window}" (use e.g. 30s, 15m, 1h, 1d)`);
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/** `10/15m:IP+EMAIL` -> { limit: 10, window: '15m', by: ['IP', 'EMAIL'] } */
export function parseRule(text: string): RateLimitRule {
  const match = /^(\d+)\/(\w+):([A-Z+]+)$/.exec(text.trim());
  if (!match) throw new Error(`invalid rate limit "${text}" (use LIMIT/WINDOW:KEY+KEY, e.g. 10/15m:IP+EMAIL)`);
  const by = match[3]!.split('+');
  for (const key of by) {
    if (!rateLimitKeys.includes(key as RateLimitKey)) throw new Error(`invalid rate-limit key "${key}" in "${text}"`);
  }
  windowSeconds(match[2]!);
  const limit = Number(match[1]);
  if (limit < 1) throw new Error(`rate limit "${text}" must allow at least 1`);
  return { limit, window: match[2]!, by: by as RateLimitKey[] };
}

/** `login=5/15m:IP+EMAIL,100/15m:IP;register=3/1h:IP` -> per-field rules that replace the defaults. */
export function parseRuleOverrides(text: string): Record<string, RateLimitRule[]> {
  const overrides: Record<string, RateLimitRule[]> = {};
  for (const entry of text
    .split(';')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq < 1) throw new Error(`invalid rate-limit entry "${entry}" (use FIELD=RULE,RULE)`);
    const field = entry.slice(0, eq).trim();
    const rules = entry.slice(eq + 1).trim();
    overrides[field] = rules === 'off' ? [] : rules.split(',').map(parseRule);
  }
  return overrides;
}
