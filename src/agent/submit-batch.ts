// Submission batches in the SDK (issue 9): how many sealed messages to one recipient share a
// submission stanza. The vault takes up to 64 items per stanza and Prosody 256 KiB per stanza by
// default; a batch stays within 64 items and 192 KiB of encoded XML, a large item goes alone.
import type { OutboxEntry } from './outbox.js';

/** Items in one submission stanza at most (the vault takes 64). */
export const SUBMIT_BATCH_ITEMS = 64;
/** Encoded bytes of one batch stanza at most (under a 256 KiB stanza limit, with room to spare). */
export const SUBMIT_BATCH_BYTES = 192 * 1024;

/** Outbox entries (in order) cut into batches within SUBMIT_BATCH_ITEMS and SUBMIT_BATCH_BYTES. */
export function chunks(entries: readonly OutboxEntry[]): OutboxEntry[][] {
  const out: OutboxEntry[][] = [];
  let current: OutboxEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (current.length > 0 && (current.length >= SUBMIT_BATCH_ITEMS || bytes + e.stanza.length > SUBMIT_BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += e.stanza.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** A sealed item's share of a stanza before sealing (to take a batch's worth of sends): base64 of the payload plus key blocks and element overhead. */
export const estimatedSize = (plaintextBytes: number): number => Math.ceil((plaintextBytes + 40) / 3) * 4 + 2048;

