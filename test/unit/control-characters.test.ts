import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.ts';
import { findRefusedText, textProblem } from '../../src/graphql/security/control-characters.ts';

// Control characters in text (checklist 57), the pure part: which characters are refused, where
// tab and newline are allowed, and that the walk over variables and literals ends fast whatever
// the shape of the input.

const schema = getSchema();

describe('textProblem', () => {
  it('refuses C0 controls, DEL, C1 controls and lone surrogates; tab and newline only in multi-line text', () => {
    const refused = ['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\r', '\u001b', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f'];
    for (const c of refused) {
      expect(textProblem(`a${c}b`, false), JSON.stringify(c)).toBe('control character');
      expect(textProblem(`a${c}b`, true), JSON.stringify(c)).toBe('control character');
    }
    for (const c of ['\t', '\n']) {
      expect(textProblem(`a${c}b`, false)).toBe('control character');
      expect(textProblem(`a${c}b`, true)).toBeNull();
    }
    for (const text of ['\ud800', 'a\udc00', '\udbff\ud800', 'x\ud83d']) expect(textProblem(text, true)).toBe('lone surrogate');
    for (const text of ['', 'Zoë Ünal', '名前', 'emoji 😀', '\u00a0non-breaking', ' ~ ']) expect(textProblem(text, false)).toBeNull();
  });
});

const register = parse('mutation($input: RegisterInput!) { register(input: $input) { token } }');
const lock = parse('mutation($id: ID!, $reason: String) { adminLockUser(id: $id, reason: $reason) { locked } }');

describe('findRefusedText', () => {
  it('finds the first refused text in the variables, by its place in the schema, never quoting it', () => {
    expect(findRefusedText(schema, register, undefined, { input: { email: 'a@example.com', name: 'Ada\u0000' } })).toEqual({
      problem: 'control character',
      where: '$input.name',
    });
    expect(findRefusedText(schema, register, undefined, { input: { email: 'a@example.com', password: 'pass\nword' } })).toEqual({
      problem: 'control character',
      where: '$input.password',
    });
    expect(findRefusedText(schema, register, undefined, { input: { email: 'a@example.com', unknown: { deeper: '\u0007' } } })).toEqual({
      problem: 'control character',
      where: '$input',
    });
    expect(findRefusedText(schema, register, undefined, { input: { email: 'a@example.com', name: 'Ada\n' } })?.where).toBe('$input.name');
    expect(findRefusedText(schema, register, undefined, { input: { email: 'a@example.com', name: 'Ada Lovelace' } })).toBeNull();
  });

  it("lets tab and newline through in an admin lock's reason only, as a variable, a literal or a default", () => {
    expect(findRefusedText(schema, lock, undefined, { id: '1', reason: 'line one\n\tline two' })).toBeNull();
    expect(findRefusedText(schema, lock, undefined, { id: '1', reason: 'bell\u0007' })?.where).toBe('$reason');
    expect(findRefusedText(schema, lock, undefined, { id: '1\n', reason: 'ok' })?.where).toBe('$id');
    const literal = (reason: string) => parse(`mutation { adminLockUser(id: "1", reason: ${JSON.stringify(reason)}) { locked } }`);
    expect(findRefusedText(schema, literal('a\nb\tc'), undefined, {})).toBeNull();
    expect(findRefusedText(schema, literal('a\rb'), undefined, {})).toEqual({ problem: 'control character', where: 'Mutation.adminLockUser(reason:)' });
    expect(findRefusedText(schema, parse('mutation { adminLockUser(id: "1", reason: """a\n\tb""") { locked } }'), undefined, {})).toBeNull();
    // A variable also used where one line is expected gets no exception.
    const both = parse('mutation($r: String) { adminLockUser(id: "1", reason: $r) { locked } adminUpdateUser(id: "1", input: { name: $r }) { id } }');
    expect(findRefusedText(schema, both, undefined, { r: 'a\nb' })?.where).toBe('$r');
    const withDefault = (text: string) => parse(`mutation($r: String = ${JSON.stringify(text)}) { adminLockUser(id: "1", reason: $r) { locked } }`);
    expect(findRefusedText(schema, withDefault('a\nb'), undefined, {})).toBeNull();
    expect(findRefusedText(schema, withDefault('a\u0000b'), undefined, {})?.where).toBe('$r');
  });

  it('checks string literals of arguments and input objects; descriptions and other operations are fine', () => {
    const doc = (name: string) => parse(`mutation { register(input: { email: "a@example.com", name: ${JSON.stringify(name)} }) { token } }`);
    expect(findRefusedText(schema, doc('Ada\u0085'), undefined, undefined)).toEqual({ problem: 'control character', where: 'RegisterInput.name' });
    // GraphQL's lexer itself refuses a lone surrogate in a literal, escaped or not.
    expect(() => doc('Ada \ud800')).toThrow(/Invalid Unicode escape sequence/);
    expect(findRefusedText(schema, doc('Ada'), undefined, undefined)).toBeNull();
    const ids = parse('query($ids: [ID!]) { a: adminUser(id: "x\\u0000") { locked } }');
    expect(findRefusedText(schema, ids, undefined, {})?.where).toBe('Query.adminUser(id:)');
  });

  it('walks lists and objects of any depth without recursion, in linear time', () => {
    let nested: unknown = 'deep\u0000';
    for (let i = 0; i < 50_000; i++) nested = [nested]; // as deep as a 100 KB body can nest
    const started = performance.now();
    expect(findRefusedText(schema, register, undefined, { input: { email: 'a@example.com', name: nested } })).toEqual({
      problem: 'control character',
      where: '$input',
    });
    const wide = { input: { email: 'a@example.com', name: Array.from({ length: 50_000 }, () => 'x'.repeat(5)) } };
    expect(findRefusedText(schema, register, undefined, wide)).toBeNull();
    expect(findRefusedText(schema, register, undefined, { input: { email: `${' '.repeat(90_000)}\u0001` } })?.where).toBe('$input.email');
    expect(performance.now() - started).toBeLessThan(2000); // milliseconds on an idle core; generous under load
  });
});
