import { z } from 'zod';
import { userErrors } from './user-errors.ts';

const emailSyntax = z.email();

/** Trimmed and lower-cased: the one form in which emails are stored and compared. */
export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !emailSyntax.safeParse(email).success) throw userErrors.invalidEmail();
  return email;
}
