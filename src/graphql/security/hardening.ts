import { GraphQLError, NoSchemaIntrospectionCustomRule, parse, validate, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { defaultGraphQLLimits } from '../../config.ts';
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
 * rule at validation, so a refused document never reaches a resolver or the database.
 */
export function useHardening({
  limits, maxTokens, maxDocumentChars = defaultGraphQLLimits.maxDocumentChars, production,
}: HardeningOptions): Plugin {
  const rules: ValidationRule[] = [documentLimitsRule(limits), oneSensitiveFieldRule];
  if (production) rules.push(NoSchemaIntrospectionCustomRule);
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
      for (const rule of rules) addValidationRule(rule);
      if (production) {
        setValidationFn(((schema, document, allRules) =>
          validate(schema, document, allRules, { hideSuggestions: true })) as typeof validate);
      }
    },
  };
}

/** Removes suggestion hints that slip through other paths (e.g. variable coercion). */
export const withoutSuggestions = (message: string) => message.replace(/\s*Did you mean .*?\?/g, '');
