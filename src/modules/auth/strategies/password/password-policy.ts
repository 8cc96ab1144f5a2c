import type { PasswordPolicy } from '../../../../config/policies.ts';
import { passwordErrors } from './password-errors.ts';

/** Length only (NIST 800-63B): no composition rules, never trimmed or case-folded. */
export function checkPasswordPolicy(password: string, policy: PasswordPolicy): void {
  // Count code points, not UTF-16 units, so emoji and CJK passwords are measured as typed.
  const length = [...password.slice(0, policy.maxLength * 2 + 2)].length;
  if (length < policy.minLength) throw passwordErrors.tooShort(policy.minLength);
  if (length > policy.maxLength) throw passwordErrors.tooLong(policy.maxLength);
}
