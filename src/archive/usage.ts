// What one recipient's archive holds against its quota (issue 14, attacks 1 and 3): undelivered
// messages and bytes, kept history copies, in total and per sender. Counters kept exact by the
// schema's triggers (schema.ts v2), so a read is a row, never a scan.
import type { UserDb } from './user-db.js';

/** One party's use of a recipient's quota. */
export interface Usage {
  /** Messages with at least one undelivered device copy. */
  pendingMessages: number;
  /** Their payloads plus every undelivered key block, in bytes. */
  pendingBytes: number;
  /** History copies (an archive block to the recipient's archive key), delivered or not. */
  keptMessages: number;
  /** Their payloads plus archive blocks, in bytes. */
  keptBytes: number;
}

export const NO_USAGE: Readonly<Usage> = Object.freeze({ pendingMessages: 0, pendingBytes: 0, keptMessages: 0, keptBytes: 0 });

export interface QuotaUsage {
  total: Usage;
  /** Per sender bare JID asked for (every sender with any use for 'all'); absent = none. */
  senders: Map<string, Usage>;
}

interface SenderRow {
  peer: string;
  pending_messages: number;
  pending_bytes: number;
  kept_messages: number;
  kept_bytes: number;
}

const toUsage = (r: SenderRow): Usage => ({
  pendingMessages: r.pending_messages,
  pendingBytes: r.pending_bytes,
  keptMessages: r.kept_messages,
  keptBytes: r.kept_bytes,
});

/** The recipient's totals and the use of `senders` (normalised bare JIDs), or of every sender. */
export function quotaUsage(u: UserDb, senders: readonly string[] | 'all'): QuotaUsage {
  const total: Usage = {
    pendingMessages: Number(u.meta('pending_messages') ?? 0),
    pendingBytes: Number(u.meta('pending_bytes') ?? 0),
    keptMessages: Number(u.meta('kept_messages') ?? 0),
    keptBytes: Number(u.meta('kept_bytes') ?? 0),
  };
  const cols = 'peer, pending_messages, pending_bytes, kept_messages, kept_bytes';
  const rows =
    senders === 'all'
      ? u.st<[], SenderRow>(`SELECT ${cols} FROM quota_sender`).all()
      : senders.flatMap((s) => u.st<[string], SenderRow>(`SELECT ${cols} FROM quota_sender WHERE peer = ?`).all(s));
  return { total, senders: new Map(rows.map((r) => [r.peer, toUsage(r)])) };
}
