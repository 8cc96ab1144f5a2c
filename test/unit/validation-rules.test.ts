import { buildSchema, parse, specifiedRules, validate, type DocumentNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { defaultDocumentLimits, documentLimitsRule } from '../../src/graphql/security/document-limits.ts';
import { fieldPolicy } from '../../src/graphql/security/field-policy.ts';
import { oneSensitiveFieldRule } from '../../src/graphql/security/sensitive-fields.ts';

// The custom validation rules are linear in the document (checklist 46): fragments that spread
// each other over and over are measured once each, and the walk stops at the first selection set
// past a limit. Exponential rules took seconds from N=20 on; here N=95 takes milliseconds.

const schema = buildSchema(`
  type User { id: ID! friends(first: Int): [User!]! }
  type Query { me: User users(first: Int): [User!]! }
  type Mutation { login(email: String!): Boolean logout: Boolean }
`);
// What `extensions: fieldPolicy({ sensitive: true })` puts on a Pothos field.
Object.assign(schema.getMutationType()!.getFields().login!, { extensions: fieldPolicy({ sensitive: true }) });
const limitsOf = (document: DocumentNode) => validate(schema, document, [documentLimitsRule(defaultDocumentLimits)]).map((e) => e.message);
const limits = (doc: string) => limitsOf(parse(doc, { noLocation: true }));
const sensitive = (doc: string) => validate(schema, parse(doc, { noLocation: true }), [oneSensitiveFieldRule]).map((e) => e.message);
const ONE_SENSITIVE = 'At most one sign-in, registration, token or mail operation per request';

/** `fragment F<k> { ...F<k-1> ...F<k-1> }`: the spread tree of F<n> has 2^n leaves. */
function doubling(n: number, leaf: string, { type = 'Query', operation = '' } = {}): string {
  const fragments = [`fragment F0 on ${type} { ${leaf} }`];
  for (let k = 1; k <= n; k++) fragments.push(`fragment F${k} on ${type} { ...F${k - 1} ...F${k - 1} }`);
  return `${operation} { ...F${n} } ${fragments.join(' ')}`;
}

function timed<T>(work: () => T): { result: T; ms: number } {
  const started = performance.now();
  const result = work();
  return { result, ms: performance.now() - started };
}

describe('document limits rule', () => {
  it('fragments spread twice at every level are refused at once, for N=22 as for N=95; doubling N does not double the time', () => {
    limits(doubling(10, 'me { id }')); // warm-up
    // The fastest of five runs: other test files load the same cores.
    const fastest = [22, 45, 95].map((n) => {
      const document = parse(doubling(n, 'me { id }'));
      const runs = Array.from({ length: 5 }, () => timed(() => limitsOf(document)));
      for (const { result } of runs) expect(result).toEqual(['Query is too expensive (cost at least 8192; at most 5000)']);
      return Math.min(...runs.map((r) => r.ms));
    });
    for (const ms of fastest) expect(ms).toBeLessThan(50);
    // 2^95 visits would never end; here the work grows with the number of fragments, no faster.
    expect(fastest[2]!).toBeLessThan(fastest[0]! * 8 + 5);
  });

  it('aliases and depth through doubled fragments are refused the same way', () => {
    expect(limits(doubling(60, 'a: me { id }'))).toEqual(['Too many aliases (at least 16; at most 15)']);
    const deep = doubling(60, `users { ${'friends { '.repeat(12)}id${' }'.repeat(12)} }`);
    expect(limits(deep)).toEqual(['Query is nested too deeply (at least 11; at most 10)']);
  });

  it('a cost that would overflow a number saturates, and a document far too deep is not walked to its bottom', () => {
    const huge = `{ ${'users(first: 1000) { '.repeat(9)}id${' }'.repeat(9)} }`;
    const lenient = { maxDepth: 1000, maxAliases: 15, maxCost: Number.MAX_SAFE_INTEGER - 1 };
    const errors = validate(schema, parse(huge), [documentLimitsRule(lenient)]).map((e) => e.message);
    expect(errors).toEqual([`Query is too expensive (cost at least ${Number.MAX_SAFE_INTEGER}; at most ${Number.MAX_SAFE_INTEGER - 1})`]);
    const deep = parse(`{ ${'users { '.repeat(1000)}id${' }'.repeat(1000)} }`);
    const { result, ms } = timed(() => limitsOf(deep));
    expect(result).toEqual(['Query is nested too deeply (at least 11; at most 10)']);
    expect(ms).toBeLessThan(250);
  });

  it('exact figures stay exact when the operation itself is the first thing past a limit', () => {
    expect(limits(`{ ${Array.from({ length: 16 }, (_, i) => `a${i}: me { id }`).join(' ')} }`)).toEqual(['Too many aliases (16; at most 15)']);
    expect(limits('{ users(first: 100) { friends(first: 50) { id } } }')).toEqual(['Query is too expensive (cost 10100; at most 5000)']);
    expect(limits(`{ ${'users { '.repeat(10)}id${' }'.repeat(10)} }`)).toEqual(['Query is nested too deeply (11; at most 10)']);
    expect(limits(`{ ${'users { '.repeat(9)}id${' }'.repeat(9)} }`)).toEqual([]);
  });

  it('fragment cycles end (GraphQL reports them), and a fragment spread from many places is measured once', () => {
    const cycle = 'query { ...A } fragment A on Query { me { id } ...B } fragment B on Query { ...A ...C } fragment C on Query { ...B ...A }';
    const { result, ms } = timed(() => validate(schema, parse(cycle), [...specifiedRules, documentLimitsRule(defaultDocumentLimits)]));
    expect(result.map((e) => e.message)).toContain('Cannot spread fragment "A" within itself via "B".');
    expect(ms).toBeLessThan(250);
    // 200 distinct fragments chained, spread from the top 1000 or 3000 times: cheap, and exact.
    const fragments = Array.from({ length: 200 }, (_, i) => `fragment G${i} on Query { ${i ? `...G${i - 1}` : 'me { id }'} }`);
    const spreads = (n: number) => Array.from({ length: n }, (_, i) => `...G${i % 200}`).join(' ');
    expect(limits(`{ ${spreads(1000)} } ${fragments.join(' ')}`)).toEqual([]);
    expect(limits(`{ ${spreads(3000)} } ${fragments.join(' ')}`)).toEqual(['Query is too expensive (cost 6000; at most 5000)']);
  });

  it('inline fragments nested deep and spreads at many levels stay linear', () => {
    const inline = parse(`{ ${'... on Query { '.repeat(1000)}me { id }${' }'.repeat(1000)} }`);
    const { result, ms } = timed(() => limitsOf(inline));
    expect(result).toEqual([]);
    expect(ms).toBeLessThan(250);
    const levels = doubling(40, 'users(first: 1) { ...U }', {}) + ' fragment U on User { id friends(first: 1) { id } }';
    expect(limits(levels)).toEqual(['Query is too expensive (cost at least 8192; at most 5000)']);
  });
});

describe('one sensitive field rule', () => {
  it('a sensitive field in a fragment spread 2^N times is refused at once; a harmless one passes at once', () => {
    const runs = [22, 95].map((n) => timed(() => sensitive(doubling(n, 'login(email: "a")', { type: 'Mutation', operation: 'mutation' }))));
    for (const { result, ms } of runs) {
      expect(result).toEqual([ONE_SENSITIVE]);
      expect(ms).toBeLessThan(250);
    }
    const harmless = timed(() => sensitive(doubling(95, 'logout', { type: 'Mutation', operation: 'mutation' })));
    expect(harmless.result).toEqual([]);
    expect(harmless.ms).toBeLessThan(250);
  });

  it('a large fragment spread by many operations is counted once for the document, not once per operation', () => {
    const fragment = `fragment F on Mutation { ${'logout '.repeat(3000)}}`;
    const operations = Array.from({ length: 3000 }, (_, i) => `mutation o${i} { ...F }`).join(' ');
    const document = parse(`${operations} ${fragment}`, { noLocation: true });
    const { result, ms } = timed(() => validate(schema, document, [oneSensitiveFieldRule]));
    expect(result).toEqual([]);
    expect(ms).toBeLessThan(250);
  });

  it('counts through fragments, inline fragments and cycles, once per operation; queries are not counted', () => {
    expect(sensitive('mutation { ...A ... on Mutation { login(email: "b") } } fragment A on Mutation { login(email: "a") }')).toEqual([ONE_SENSITIVE]);
    expect(sensitive('mutation { ...A } fragment A on Mutation { login(email: "a") ...B } fragment B on Mutation { ...A logout }')).toEqual([]);
    // A cycle is GraphQL's to refuse; counting through one ends.
    const cycle = 'mutation { ...A ...B } fragment A on Mutation { login(email: "a") ...B } fragment B on Mutation { ...A }';
    expect(validate(schema, parse(cycle), [...specifiedRules, oneSensitiveFieldRule]).length).toBeGreaterThan(0);
    expect(sensitive('mutation { ...A } fragment A on Mutation { login(email: "a") }')).toEqual([]);
    expect(sensitive('query { me { id } }')).toEqual([]);
  });
});
