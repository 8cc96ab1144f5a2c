/**
 * Security policy a root field declares about itself, in its own definition
 * (`extensions: fieldPolicy({ sensitive: true })`), read by the rules that enforce it: no list of
 * field names to keep in step with the schema.
 */
export interface FieldPolicy {
  /**
   * A sign-in, registration, token or mail operation: at most one per request (aliases would
   * otherwise try many passwords or codes, or batch mails, in one request).
   */
  sensitive?: boolean;
  /**
   * A mail request that answers `true` whatever the address: past its per-email limit it still
   * does, and sends nothing, so a limit never tells which addresses have accounts.
   */
  silentPerEmailLimit?: boolean;
}

const KEY = 'fieldPolicy';

export function fieldPolicy(policy: FieldPolicy): { [KEY]: FieldPolicy } {
  return { [KEY]: policy };
}

export function policyOf(field: { extensions?: unknown } | null | undefined): FieldPolicy {
  return ((field?.extensions as Record<string, unknown> | undefined)?.[KEY] as FieldPolicy | undefined) ?? {};
}
