/** Where a request came from, as far as the service can tell (audit, sessions, rate limits). */
export interface ClientInfo {
  ipAddress: string | null;
  userAgent: string | null;
}
