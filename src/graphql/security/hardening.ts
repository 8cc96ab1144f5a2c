import { NoSchemaIntrospectionCustomRule, parse, validate, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { documentLimitsRule, type DocumentLimits } from './document-limits.ts';
import { oneSensitiveFieldRule } from './sensitive-fields.ts';

export interface HardeningOptions {
  limits: DocumentLimits;
  maxTokens: number;
  /** Production: no introspection, no "Did you mean …" hints that map the schema for an attacker. */
  production: boolean;
}

/**
 * Parse and validation limits for every transport (HTTP, SSE and WebSocket all go through
 * yoga's envelop): token count at parse time, then depth, aliases, cost and the one-sensitive-field
 * rule at validation, so a refused document never reaches a resolver or the database.
 */
export function useHardening({ limits, maxTokens, production }: HardeningOptions): Plugin {
  const rules: ValidationRule[] = [documentLimitsRule(limits), oneSensitiveFieldRule];
  if (production) rules.push(NoSchemaIntrospectionCustomRule);
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => parse(source, { ...options, maxTokens }));
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
