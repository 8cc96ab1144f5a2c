// Reading one number off /metrics (the Prometheus text exposition), the way a scraper would.

/** The app to scrape: its URL and, when it has one, the bearer token /metrics asks for. */
interface Scraped {
  url: string;
  config?: { metricsToken?: string };
}

/** The text of `app`'s /metrics, with the app's metrics token when it has one. */
export async function scrape(app: Scraped): Promise<string> {
  const token = app.config?.metricsToken;
  const response = await fetch(`${app.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  return response.text();
}

/** `{a="1",b="2"}` as an object; escaped quotes and backslashes in values unescaped. */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [, name, value] of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  return labels;
}

const sameLabels = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/**
 * The value of the series `name` with exactly these `labels` (in any order) in an exposition text.
 * A series not (yet) written reads 0, as a counter nobody incremented; a metric the text does not
 * declare at all (no `# TYPE` line) throws, so that a renamed metric fails the test instead of
 * reading 0.
 */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const family = name.replace(/_(bucket|sum|count)$/, '');
  const declared = (line: string) =>
    line.startsWith(`# TYPE ${name} `) || line.startsWith(`# TYPE ${family} histogram`) || line.startsWith(`# TYPE ${family} summary`);
  if (!text.split('\n').some(declared)) throw new Error(`${name} is not on /metrics`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)/.exec(line);
    if (match?.[1] === name && sameLabels(parseLabels(match[2] ?? ''), labels)) return Number(match[3]);
  }
  return 0;
}

/** The value of one series on `app`'s /metrics (see `seriesValue`). */
export async function metric(app: Scraped, name: string, labels: Record<string, string> = {}): Promise<number> {
  return seriesValue(await scrape(app), name, labels);
}
