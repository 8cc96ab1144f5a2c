import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { printedSchema } from '../../src/graphql/schema.ts';

it('schema.graphql matches the Pothos schema (run `npm run schema:print` after changing a type)', () => {
  const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
  expect(committed).toBe(printedSchema());
});

it('schema.graphql holds the names API.md fixes for this part of the contract', () => {
  const schema = printedSchema();
  for (const name of [
    'me: User',
    'mySessions: [Session!]!',
    'register(input: RegisterInput!): AuthPayload!',
    'login(input: LoginInput!): AuthPayload!',
    'logout: Boolean!',
    'updateProfile(input: UpdateProfileInput!): User!',
    'changePassword(input: ChangePasswordInput!): Boolean!',
    'revokeSession(id: ID!): Boolean!',
    'revokeOtherSessions: Int!',
    'hasPassword: Boolean!',
    'current: Boolean!',
  ]) {
    expect(schema).toContain(name);
  }
});
