import { badInput } from '../../kernel/errors.ts';

/** What the audit log's filters refuse. */
export const auditErrors = {
  notAnId: (argument: string) => badInput(`${argument} is not a valid id`),
  typeTooLong: () => badInput('type is too long'),
} as const;
