import { serverAudits, type AuditResult } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';

// The GraphQL-over-HTTP spec audits of graphql-http, run against the real server. A failing MUST
// fails the test; a failing SHOULD or MAY is only reported (with its reason) in the test output.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

// The list is built before the app exists; each audit asks for the URL when it runs.
const audits = serverAudits({ url: () => `${t.url}/graphql` });

async function describeFailure(result: AuditResult): Promise<string> {
  if (result.status === 'ok') return '';
  const body = await result.response.text().catch(() => '(unreadable body)');
  return `${result.name}: ${result.reason}\n  status ${result.response.status}, body ${body.slice(0, 300)}`;
}

describe('GraphQL over HTTP (graphql-http audits)', () => {
  it('covers every requirement level', () => {
    expect(audits.length).toBeGreaterThan(20);
    expect(audits.some((a) => a.name.startsWith('MUST'))).toBe(true);
  });

  it.each(audits.map((a) => [`${a.id} ${a.name}`, a] as const))('%s', async (_title, audit) => {
    const result = await audit.fn();
    expect(result.id).toBe(audit.id);
    if (audit.name.startsWith('MUST')) {
      expect(result.status, await describeFailure(result)).toBe('ok');
    } else if (result.status !== 'ok') {
      console.warn(`[graphql-http ${result.status}] ${await describeFailure(result)}`);
    }
  });
});
