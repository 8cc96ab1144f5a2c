import type { PasswordPolicy } from '../../../../config/policies.ts';
import { badInput } from '../../../../kernel/errors.ts';

/** Length only (NIST 800-63B): no composition rules, never trimmed or case-folded. */
export function checkPasswordPolicy(password: string, policy: PasswordPolicy): void {
  // Count code points, not UTF-16 units, so emoji and CJK passwords are measured as typed.
  const length = [...password.slice(0, policy.maxLength * 2 + 2)].length;
  if (length < policy.minLength) throw badInput(`Password must be at least ${policy.minLength} characters`);
  if (length > policy.maxLength) throw badInput(`Password must be at most ${policy.maxLength} characters`);
}
