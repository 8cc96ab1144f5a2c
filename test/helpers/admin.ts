import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { TestApp } from './app.ts';
import type { WsConnection } from '../../scripts/ws-connection.ts';

// Helpers of the admin and audit tests: an admin made by a direct role update (what the CLI and
// ADMIN_EMAILS do at creation), a fingerprint of everything an admin field could change (the
// sign-in throttle included), and recorders of the audit log (database rows and the live feed).

export const AUDIT_FEED = `subscription { adminAuditFeed { id type userId actorId ipAddress userAgent data createdAt } }`;

export interface SignedIn {
  token: string;
  userId: string;
  sessionId: string;
}

/** Registers `email` and makes it an admin. */
export async function makeAdmin(t: TestApp, email: string): Promise<SignedIn> {
  const user = await t.register(email);
  await t.db.query(`UPDATE "User" SET role = 'ADMIN' WHERE id = $1`, [user.userId]);
  return user;
}

/**
 * Every row an admin field could write (users, sessions, tokens, identities, the audit log).
 * Compare two with `expectUnchanged`.
 */
export async function fingerprint(t: TestApp): Promise<Record<string, unknown[]>> {
  const tables = {
    users: `SELECT id, email, name, role, "emailVerified", "lockedUntil", "lockReason", "passwordHash", "updatedAt", "totpSecret", "totpEnabledAt" FROM "User" ORDER BY id`,
    sessions: `SELECT id, "revokedAt", "revokeReason", "lastSeenAt", "idleExpiresAt" FROM "Session" ORDER BY id`,
    tokens: `SELECT id, "consumedAt" FROM "OneTimeToken" ORDER BY id`,
    identities: `SELECT id FROM "OAuthAccount" ORDER BY id`,
    passkeys: `SELECT id, counter FROM "Passkey" ORDER BY id`,
    recoveryCodes: `SELECT id, "usedAt" FROM "RecoveryCode" ORDER BY id`,
    audit: `SELECT id FROM "AuditEvent" ORDER BY id`,
    throttles: `SELECT scope, subject, failures, "windowStartedAt", "blockedUntil" FROM "Throttle" ORDER BY scope, subject`,
  };
  const entries = await Promise.all(Object.entries(tables).map(async ([name, sql]) => [name, await t.db.query(sql)] as const));
  return Object.fromEntries(entries);
}

/**
 * Nothing in `before` changed. Tokens are compared as "every earlier one is still there, as it
 * was": registration mails a verification token from a background job, which may land at any time.
 */
export async function expectUnchanged(t: TestApp, before: Record<string, unknown[]>): Promise<void> {
  const now = await fingerprint(t);
  const { tokens, ...rest } = now;
  const { tokens: tokensBefore, ...restBefore } = before;
  expect(rest).toEqual(restBefore);
  expect(tokens).toEqual(expect.arrayContaining(tokensBefore!));
}

export interface AuditRow {
  id: string;
  type: string;
  userId: string | null;
  actorId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  data: any;
  createdAt: Date;
}

/** The audit log as stored, oldest first, with `data` parsed. */
export async function auditRows(t: TestApp, where = 'TRUE', params: unknown[] = []): Promise<AuditRow[]> {
  const rows = await t.db.query<AuditRow>(`SELECT * FROM "AuditEvent" WHERE ${where} ORDER BY "createdAt", id`, params);
  return rows.map((r) => ({ ...r, data: r.data === null ? null : JSON.parse(r.data) }));
}

export interface RecordedFeed {
  events: Array<Omit<AuditRow, 'data' | 'createdAt'> & { data: string | null; createdAt: string }>;
  errors: any[];
  completed: boolean;
}

/** Subscribes to adminAuditFeed on a graphql-ws connection and records what arrives. */
export function recordFeed(ws: WsConnection): RecordedFeed {
  const feed: RecordedFeed = { events: [], errors: [], completed: false };
  ws.client.subscribe(
    { query: AUDIT_FEED },
    {
      next: (value) => {
        if (value.errors) feed.errors.push(...value.errors);
        const event = (value.data as any)?.adminAuditFeed;
        if (event) feed.events.push(event);
      },
      error: (err) => void feed.errors.push(...(Array.isArray(err) ? err : [err])),
      complete: () => void (feed.completed = true),
    },
  );
  return feed;
}

/**
 * Waits until `feed` is live without a fixed sleep: makes failed logins (each one audited) until
 * one of them arrives on the feed. Each probe uses an address of its own: past a few failures an
 * address is throttled, and a throttled attempt is not audited.
 */
export async function untilFeedLive(t: TestApp, feed: RecordedFeed, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!feed.events.some((e) => e.type === 'login.failed')) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the audit feed to be live');
    const email = `probe-${randomUUID()}@example.com`;
    await t.gql(`mutation($email: String!) { login(input: { email: $email, password: "not the password" }) { token } }`, { email });
    await new Promise((r) => setTimeout(r, 20));
  }
}
