import { describe, expect, it } from 'vitest';
import { parseRule, parseRuleOverrides, windowSeconds } from '../../src/kernel/rate-limit-rules.ts';

// Parsing the RATE_LIMITS rules (src/kernel/rate-limit-rules.ts): what a good rule means, and a
// bad one refused at start-up with a message naming it.

describe('parseRule', () => {
  it.each([
    ['10/15m:IP+EMAIL', { limit: 10, window: '15m', by: ['IP', 'EMAIL'] }],
    ['100/15m:IP', { limit: 100, window: '15m', by: ['IP'] }],
    ['3/1h:USER', { limit: 3, window: '1h', by: ['USER'] }],
    ['1/30s:EMAIL', { limit: 1, window: '30s', by: ['EMAIL'] }],
    ['  5/1d:IP+USER  ', { limit: 5, window: '1d', by: ['IP', 'USER'] }],
  ])('reads %j', (text, rule) => {
    expect(parseRule(text)).toEqual(rule);
  });

  it.each([
    ['', /invalid rate limit/],
    ['10/15m', /invalid rate limit/],
    ['10:IP', /invalid rate limit/],
    ['ten/15m:IP', /invalid rate limit/],
    ['-1/15m:IP', /invalid rate limit/],
    ['10/15m:ip', /invalid rate limit/],
    ['10/15m:IP+HOST', /invalid rate-limit key "HOST"/],
    ['10/15m:IP+', /invalid rate-limit key ""/],
    ['10/15x:IP', /invalid rate-limit window "15x"/],
    ['10/m:IP', /invalid rate-limit window "m"/],
    ['0/15m:IP', /must allow at least 1/],
  ])('refuses %j', (text, message) => {
    expect(() => parseRule(text)).toThrow(message);
  });
});

describe('windowSeconds', () => {
  it('converts each unit', () => {
    expect([windowSeconds('30s'), windowSeconds('15m'), windowSeconds('1h'), windowSeconds('2d')]).toEqual([30, 900, 3600, 172_800]);
  });
});

describe('parseRuleOverrides', () => {
  it('reads several fields, several rules each, and "off" as no limit', () => {
    expect(parseRuleOverrides('login=5/15m:IP+EMAIL,100/15m:IP; register=3/1h:IP;requestMagicLink=off;')).toEqual({
      login: [
        { limit: 5, window: '15m', by: ['IP', 'EMAIL'] },
        { limit: 100, window: '15m', by: ['IP'] },
      ],
      register: [{ limit: 3, window: '1h', by: ['IP'] }],
      requestMagicLink: [],
    });
    expect(parseRuleOverrides('')).toEqual({});
  });

  it.each([['login'], ['=5/15m:IP'], ['login=5/15m:IP,'], ['login=5/15q:IP']])('refuses %j', (text) => {
    expect(() => parseRuleOverrides(text)).toThrow(/invalid rate/);
  });
});
