import { GraphQLError, NoSchemaIntrospectionCustomRule, parse, validate, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { defaultGraphQLLimits } from '../../config/policies.ts';
import { documentLimitsRule, type DocumentLimits } from './document-limits.ts';
import { oneSensitiveFieldRule } from './sensitive-fields.ts';

export interface HardeningOptions {
  limits: DocumentLimits;
  maxTokens: number;
  /**
   * Longest document, in characters. The token limit alone lets through a document made long by
   * comments, whitespace or one huge string literal, none of which are tokens.
   */
  maxDocumentChars?: number;
  /** Production: no introspection, no "Did you mean …" hints that map the schema for an attacker. */
  production: boolean;
}

/**
 * Parse and validation limits for every transport (HTTP, SSE and WebSocket all go through
 * yoga's envelop): token count at parse time, then depth, aliases, cost and the one-sensitive-field
 * rule at validation, so a refused document never reaches a resolver or the database. Those rules
 * take time linear in the document and run before GraphQL's own.
 */
export function useHardening({ limits, maxTokens, maxDocumentChars = defaultGraphQLLimits.maxDocumentChars, production }: HardeningOptions): Plugin {
  const limitRules: ValidationRule[] = [documentLimitsRule(limits), oneSensitiveFieldRule];
  return {
    // HTTP and SSE: refused with 413 before parsing (a parse error would be answered with 200 to
    // application/json clients).
    onParams({ params }) {
      if (typeof params.query === 'string' && params.query.length > maxDocumentChars) {
        throw new GraphQLError(`Document is longer than ${maxDocumentChars} characters`, {
          extensions: { code: 'BAD_USER_INPUT', http: { status: 413 } },
        });
      }
    },
    onParse({ setParseFn }) {
      // Every transport, WebSocket included.
      setParseFn((source, options) => parse(source, { ...options, maxTokens, maxSourceLength: maxDocumentChars }));
    },
    onValidate({ addValidationRule, setValidationFn }) {
      if (production) addValidationRule(NoSchemaIntrospectionCustomRule);
      // Our limits run first and alone: a document past them is refused without GraphQL's own
      // rules, some of which take time quadratic in the number of fields.
      setValidationFn(((schema, document, allRules) => {
        const refused = validate(schema, document, limitRules);
        return refused.length ? refused : validate(schema, document, allRules, { hideSuggestions: production });
      }) as typeof validate);
    },
  };
}

const HINT = 'Did you mean ';
const isSpace = (char: string) => /\s/.test(char);
const isLineBreak = (char: string) => char === '\n' || char === '\r' || char === '\u2028' || char === '\u2029';

/**
 * Removes suggestion hints ("Did you mean …?", with the blanks before it) that slip through other
 * paths. A plain scan, linear in the message: messages may quote what a client sent, and a
 * backtracking pattern took 38 s on 90 KB of spaces.
 */
export function withoutSuggestions(message: string): string {
  let kept = '';
  let done = 0; // message[0, done) is already in `kept` or removed
  let question = -1; // the next '?' at or after the current hint, once looked for
  let lineBreak = -1; // the next line break at or after the current hint, once looked for
  for (let hint = message.indexOf(HINT); hint >= 0; hint = message.indexOf(HINT, hint + 1)) {
    const from = hint + HINT.length;
    if (question < from) question = message.indexOf('?', from);
    if (question < 0) break;
    if (lineBreak < from) {
      lineBreak = from;
      while (lineBreak < message.length && !isLineBreak(message[lineBreak]!)) lineBreak++;
    }
    if (lineBreak < question) continue; // the hint's question mark must be on its line
    let start = hint;
    while (start > done && isSpace(message[start - 1]!)) start--;
    kept += message.slice(done, start);
    done = question + 1;
    hint = question;
  }
  return kept + message.slice(done);
}
