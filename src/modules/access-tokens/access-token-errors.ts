import { badInput } from '../../kernel/errors.ts';

/** What issueAccessToken refuses. */
export const accessTokenErrors = {
  audienceLength: (max: number) => badInput(`audience must be 1 to ${max} characters`),
  audienceControlCharacters: () => badInput('audience must not contain control characters'),
} as const;
