import { randomInt } from 'node:crypto';
import { hashToken } from '../../../platform/crypto.ts';

// Recovery codes: ten single-use codes shown once, for when the authenticator is lost. Written as
// two groups of five characters from an alphabet without look-alikes (no i, l, o, 0, 1), about 49
// bits each; stored as the SHA-256 of the normalized code (lower case, no separators).

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const GROUP = 5;
const LENGTH = 2 * GROUP;

function newRecoveryCode(): string {
  let raw = '';
  for (let i = 0; i < LENGTH; i++) raw += ALPHABET[randomInt(ALPHABET.length)];
  return `${raw.slice(0, GROUP)}-${raw.slice(GROUP)}`;
}

/** A fresh set of distinct codes, as shown to the user. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(newRecoveryCode());
  return [...codes];
}

/** The code as stored (hashed): case, spaces and dashes do not matter; null when it cannot be one. */
export function normalizeRecoveryCode(input: string): string | null {
  if (input.length > 4 * LENGTH) return null;
  const code = input.toLowerCase().replace(/[\s-]/g, '');
  if (code.length !== LENGTH) return null;
  for (const c of code) if (!ALPHABET.includes(c)) return null;
  return code;
}

export const hashRecoveryCode = (normalized: string): string => hashToken(normalized);
