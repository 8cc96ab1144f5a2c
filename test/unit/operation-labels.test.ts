import { buildSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { errorCodeLabel, operationLabels } from '../../src/graphql/request-metrics.ts';

// The labels of the request metrics (checklist 48): the operation type and the first root field
// when the schema has it, else "other"; names and aliases chosen by the client never appear.

const schema = buildSchema(`
  type Query { me: String, users: String }
  type Mutation { login: String, register: String }
  type Subscription { sessionRevoked: String }
`);
const labels = (document: string, operationName?: string) => operationLabels(schema, parse(document), operationName);

describe('operationLabels', () => {
  it('labels by the first root field of the operation, never by its name or alias', () => {
    expect(labels('query FreshName123 { me }')).toEqual({ operationType: 'query', operation: 'me' });
    expect(labels('{ alias999: users me }')).toEqual({ operationType: 'query', operation: 'users' });
    expect(labels('mutation login { anything: register }')).toEqual({ operationType: 'mutation', operation: 'register' });
    expect(labels('subscription { sessionRevoked }')).toEqual({ operationType: 'subscription', operation: 'sessionRevoked' });
  });

  it('counts a field the root type does not have as "other" (unknown names, another root type\'s fields)', () => {
    expect(labels('{ noSuchField_4711 }')).toEqual({ operationType: 'query', operation: 'other' });
    expect(labels('query { login }')).toEqual({ operationType: 'query', operation: 'other' });
    expect(labels('mutation { me }')).toEqual({ operationType: 'mutation', operation: 'other' });
  });

  it('keeps the fixed meta fields', () => {
    expect(labels('{ __typename }')).toEqual({ operationType: 'query', operation: '__typename' });
  });

  it('looks through fragments for the first field, and survives fragment cycles and unknown fragments', () => {
    expect(labels('{ ... on Query { users } me }')).toEqual({ operationType: 'query', operation: 'users' });
    expect(labels('{ ...A me } fragment A on Query { ...B } fragment B on Query { users }')).toEqual({ operationType: 'query', operation: 'users' });
    expect(labels('{ ...A me } fragment A on Query { ...A }')).toEqual({ operationType: 'query', operation: 'me' });
    expect(labels('{ ...Missing }')).toEqual({ operationType: 'query', operation: 'other' });
  });

  it('picks the operation the request names, and "unknown" when none matches', () => {
    const two = 'query A { me } mutation B { login }';
    expect(labels(two, 'B')).toEqual({ operationType: 'mutation', operation: 'login' });
    expect(labels(two, 'Fresh_42')).toEqual({ operationType: 'unknown', operation: 'other' });
    expect(labels(two)).toEqual({ operationType: 'unknown', operation: 'other' });
  });

  it('walks a long fragment chain in time linear in the document', () => {
    const n = 2000;
    const fragments = Array.from({ length: n }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`).join('\n');
    const document = parse(`{ ...F0 } ${fragments} fragment F${n} on Query { users }`);
    const started = performance.now();
    expect(operationLabels(schema, document)).toEqual({ operationType: 'query', operation: 'users' });
    expect(performance.now() - started).toBeLessThan(100);
  });
});

describe('errorCodeLabel', () => {
  it('keeps the codes of API.md and counts anything else as "other"', () => {
    for (const code of ['BAD_USER_INPUT', 'UNAUTHENTICATED', 'RATE_LIMITED', 'SECOND_FACTOR_REQUIRED', 'INTERNAL_SERVER_ERROR']) {
      expect(errorCodeLabel(code)).toBe(code);
    }
    for (const code of ['GRAPHQL_PARSE_FAILED', 'made-up-by-a-client', undefined, 42]) expect(errorCodeLabel(code)).toBe('other');
  });
});
