import { randomBytes } from 'node:crypto';

// UUIDv7 (RFC 9562): a 48-bit millisecond timestamp, then a counter and random bits. PostgreSQL
// compares uuids byte by byte, so these sort by creation. The counter keeps ids made within one
// millisecond (or while a test clock stands still) in the order they were made, which is what lets
// (createdAt, id) list the audit log in the order it was written.

let lastMs = -1;
let counter = 0;
const COUNTER_MAX = 0xfff; // the 12 bits of rand_a

/** A new UUIDv7 for the instant `at`; never sorts before an id this process made earlier. */
export function uuid7(at: Date): string {
  let ms = Math.max(at.getTime(), lastMs);
  if (ms === lastMs) {
    counter++;
    // More than 4096 ids in one millisecond: borrow the next millisecond rather than repeat.
    if (counter > COUNTER_MAX) {
      ms++;
      counter = 0;
    }
  } else {
    counter = 0;
  }
  lastMs = ms;
  const bytes = randomBytes(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
