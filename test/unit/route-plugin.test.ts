import { Writable } from 'node:stream';
import { createSchema, createYoga } from 'graphql-yoga';
import { expect, it } from 'vitest';
import { routePlugin, type Route } from '../../src/http/route.ts';
import { createLogger } from '../../src/platform/logger.ts';

// Every HTTP route is a yoga plugin made by routePlugin. Left to itself, the server adapter answers
// an error thrown in onRequest with the error's stack as the body: the plugin answers the 500
// envelope of API.md instead, and logs the error.

function serverWith(route: Route) {
  const lines: Array<{ msg: string; err?: { message: string } }> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } } }),
    plugins: [routePlugin(createLogger('error', sink), route) as never],
    logging: false,
  });
  const query = () =>
    yoga.fetch('http://test.local/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ hello }' }) });
  return { yoga, lines, query };
}

const SECRET_LOOKING = 'connection to postgres://portcullis:hunter2@db failed';

for (const [how, route] of [
  [
    'throws',
    () => {
      throw new Error(SECRET_LOOKING);
    },
  ],
  ['rejects', () => Promise.reject(new Error(SECRET_LOOKING))],
] as Array<[string, Route]>) {
  it(`a route that ${how} answers the 500 envelope, without the error or its stack, and logs it`, async () => {
    const { lines, query } = serverWith(route);
    const response = await query();
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('hunter2');
    expect(text).not.toMatch(/\bat .*\.ts:\d+/);
    expect(JSON.parse(text)).toEqual({
      errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', http: { status: 500 }, requestId: 'none' } }],
    });
    expect(lines).toEqual([expect.objectContaining({ msg: 'request failed', err: expect.objectContaining({ message: SECRET_LOOKING }) })]);
  });
}

it('a route answers what it returns, synchronously or later; undefined hands the request on to GraphQL', async () => {
  const { yoga, query } = serverWith(({ url }) => {
    if (url.pathname === '/now') return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'now' };
    if (url.pathname === '/later') return Promise.resolve({ status: 202, body: 'later' });
    return undefined;
  });
  const now = await yoga.fetch('http://test.local/now');
  expect([now.status, await now.text(), now.headers.get('content-type')]).toEqual([200, 'now', 'text/plain']);
  const later = await yoga.fetch('http://test.local/later');
  expect([later.status, await later.text()]).toEqual([202, 'later']);
  expect(await (await query()).json()).toEqual({ data: { hello: 'world' } });
});
