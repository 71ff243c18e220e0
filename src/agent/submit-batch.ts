// Submission batches in the SDK (issue 9): how many sealed messages to one recipient share a
// submission stanza. The vault takes up to 64 items per stanza and Prosody 256 KiB per stanza by
// default; a batch stays within 64 items and 192 KiB of encoded XML, a large item goes alone.
import { AppError, ErrorCode } from '../errors/index.js';
import { maxItemBytes } from '../protocol/index.js';
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


/** Takes out of `queue`, in call order, up to `max` waiting sends to `recipient` that fit one stanza. */
export function takeBatch<T extends { recipient: string; plaintext: Uint8Array }>(queue: T[], recipient: string, max: number): T[] {
  const out: T[] = [];
  let bytes = 0;
  for (let i = 0; i < queue.length && out.length < max; ) {
    const r = queue[i] as T;
    if (r.recipient !== recipient) {
      i++;
      continue;
    }
    const size = estimatedSize(r.plaintext.length);
    if (out.length > 0 && bytes + size > SUBMIT_BATCH_BYTES && max !== Number.POSITIVE_INFINITY) break;
    out.push(r);
    bytes += size;
    queue.splice(i, 1);
  }
  return out;
}

/** Splits sealed parts (in order) into stanzas within the batch limits; a large one goes alone. */
export function stanzaSized<P extends { entry: OutboxEntry }>(parts: readonly P[]): P[][] {
  const byId = new Map(parts.map((p) => [p.entry.messageId, p]));
  return chunks(parts.map((p) => p.entry)).map((c) => c.map((e) => byId.get(e.messageId) as P));
}

/** Batch stanza id → its message ids, and back: a refusal of the whole stanza settles them all. */
export class BatchIds {
  private readonly batches = new Map<string, readonly string[]>();
  private readonly batchOf = new Map<string, string>();

  add(stanzaId: string, messageIds: readonly string[]): void {
    this.batches.set(stanzaId, messageIds);
    for (const m of messageIds) this.batchOf.set(m, stanzaId);
  }

  /** The message ids a refusal of `id` settles: a batch's items, or the one message. */
  members(id: string): readonly string[] {
    return this.batches.get(id) ?? [id];
  }

  /** Forgets a settled message, and its batch once every item is settled. */
  settled(messageId: string): void {
    const batch = this.batchOf.get(messageId);
    this.batchOf.delete(messageId);
    if (batch !== undefined && (this.batches.get(batch) ?? []).every((m) => !this.batchOf.has(m))) this.batches.delete(batch);
  }
}

/**
 * The refusal of a submission (its own stanza, as text) too large for the server's stanza limit
 * once wrapped for delivery: such a stanza ends the sender's stream, and a resend would do it
 * again, so the message is refused before it is kept. Undefined when it fits.
 */
export function oversize(stanza: string, keyBlocks: number, maxStanzaBytes: number): AppError | undefined {
  const size = Buffer.byteLength(stanza);
  const max = maxItemBytes(maxStanzaBytes);
  if (size <= max) return undefined;
  return new AppError(
    ErrorCode.ResourceLimit,
    `message too large: sealed for ${keyBlocks} key blocks it takes ${size} bytes, and a ${maxStanzaBytes}-byte stanza holds at most ${max} once wrapped for delivery`,
  );
}
