// The write path and delivery state of one user's archive: idempotent store of incoming and
// outgoing sealed items (design.md invariant 2), pending copies per device in arrival order and
// their receipts (invariant 3, issue 6). Pure functions over an open UserDb; no crypto here.
import type { StoredMessageHead } from '../keys/index.js';
import type { IncomingItem, KeyBlock, OutgoingItem, StoreResult } from './types.js';
import { newArchiveId, type UserDb } from './user-db.js';

interface MessageRow {
  direction: 'in' | 'out';
  peer: string;
  senderDevice: number;
  messageId: string;
  suite: string;
  receivedAt: number;
  payload: Uint8Array;
  akId: number | null;
  akBlock: Uint8Array | null;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Inserts the message row unless (direction, peer, message id) exists; returns its seq if new.
 * Runs inside an IMMEDIATE transaction, so the look-up and the insert cannot race another writer.
 * Looking up first keeps a repeat a pure read (an INSERT that conflicts still rewrites the
 * AUTOINCREMENT counter page into the WAL).
 */
function insertMessage(u: UserDb, m: MessageRow): { seq?: number; result: StoreResult } {
  const existing = u
    .st<unknown[], { archive_id: string; payload: Uint8Array | null; payload_bytes: number }>(
      `SELECT archive_id, payload, payload_bytes FROM message
       WHERE direction = ? AND peer = ? AND message_id = ?`,
    )
    .get(m.direction, m.peer, m.messageId);
  if (existing !== undefined) {
    // A tombstone (payload gone after delivery) can only be compared by size.
    const same = existing.payload === null
      ? existing.payload_bytes === m.payload.length
      : sameBytes(existing.payload, m.payload);
    return { result: { inserted: false, archiveId: existing.archive_id, conflict: !same } };
  }
  const archiveId = newArchiveId();
  const r = u
    .st(
      `INSERT INTO message (archive_id, direction, peer, sender_device, message_id, suite,
         received_at, payload, payload_bytes, ak_id, ak_block)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(archiveId, m.direction, m.peer, m.senderDevice, m.messageId, m.suite, m.receivedAt,
      m.payload, m.payload.length, m.akId, m.akBlock);
  return { seq: Number(r.lastInsertRowid), result: { inserted: true, archiveId, conflict: false } };
}

/** Stores an incoming item and one pending copy per device block, in one transaction. */
export function storeIncoming(u: UserDb, item: IncomingItem, now: number): StoreResult {
  return u.tx(() => {
    const { seq, result } = insertMessage(u, {
      direction: 'in',
      peer: item.sender,
      senderDevice: item.senderDevice,
      messageId: item.messageId,
      suite: item.suite,
      receivedAt: item.receivedAt ?? now,
      payload: item.payload,
      akId: item.archiveBlock?.akId ?? null,
      akBlock: item.archiveBlock?.block ?? null,
    });
    if (seq !== undefined) {
      const ins = u.st(
        'INSERT INTO delivery (seq, device_id, prekey_id, key_block, block_bytes) VALUES (?, ?, ?, ?, ?)',
      );
      for (const b of item.deviceBlocks) ins.run(seq, b.deviceId, b.prekeyId, b.block, b.block.length);
    }
    return result;
  });
}

/** Stores the sender's own-AK copy in the sender's archive as direction 'out'. */
export function storeOutgoing(u: UserDb, item: OutgoingItem, now: number): StoreResult {
  return u.tx(
    () =>
      insertMessage(u, {
        direction: 'out',
        peer: item.recipient,
        senderDevice: item.senderDevice,
        messageId: item.messageId,
        suite: item.suite,
        receivedAt: item.receivedAt ?? now,
        payload: item.payload,
        akId: item.archiveBlock.akId,
        akBlock: item.archiveBlock.block,
      }).result,
  );
}

/** A transit copy waiting for one device. */
export interface PendingItem extends StoredMessageHead {
  /** Arrival order in this archive; pass the last one as `afterSeq` to page on. */
  seq: number;
  keyBlock: KeyBlock;
  /** Delivery attempts recorded so far (markAttempted). */
  attempts: number;
}

export function pendingFor(u: UserDb, deviceId: number, afterSeq: number, limit: number): PendingItem[] {
  const rows = u
    .st<[number, number, number], {
      seq: number; peer: string; sender_device: number; message_id: string; suite: string;
      received_at: number; payload: Uint8Array; prekey_id: number; key_block: Uint8Array; attempts: number;
    }>(
      `SELECT d.seq, m.peer, m.sender_device, m.message_id, m.suite, m.received_at, m.payload,
              d.prekey_id, d.key_block, d.attempts
       FROM delivery d JOIN message m ON m.seq = d.seq
       WHERE d.device_id = ? AND d.delivered_at IS NULL AND d.seq > ?
       ORDER BY d.seq LIMIT ?`,
    )
    .all(deviceId, afterSeq, limit);
  return rows.map((r) => ({
    seq: r.seq,
    sender: r.peer,
    senderDevice: r.sender_device,
    messageId: r.message_id,
    suite: r.suite,
    receivedAt: r.received_at,
    payload: r.payload,
    keyBlock: { deviceId, prekeyId: r.prekey_id, block: r.key_block },
    attempts: r.attempts,
  }));
}

/** Counts a send of these copies (redelivery metrics); delivered copies are left alone. */
export function markAttempted(u: UserDb, deviceId: number, seqs: readonly number[], now: number): number {
  const up = u.st(
    `UPDATE delivery SET attempts = attempts + 1, last_attempt_at = ?
     WHERE seq = ? AND device_id = ? AND delivered_at IS NULL`,
  );
  // Attempt counts feed redelivery metrics only: their commit is not fsynced (one fsync fewer
  // per delivery batch sent; issue 16).
  return u.lightTx(() => seqs.reduce((n, seq) => n + up.run(now, seq, deviceId).changes, 0));
}

export interface DeliveryResult {
  /** The message exists and was addressed to this device. */
  found: boolean;
  /** This call moved the copy from pending to delivered (false for a repeated receipt). */
  changed: boolean;
  /** Every addressed device has now acknowledged. */
  fullyDelivered: boolean;
}

/**
 * Marks one device's copy delivered and drops its key block. When no device is left and there is
 * no history copy, the payload is dropped too; the row stays as a tombstone for dedupe.
 */
export function markDelivered(
  u: UserDb, deviceId: number, sender: string, messageId: string, now: number,
): DeliveryResult {
  return u.tx(() => {
    const msg = u
      .st<[string, string], { seq: number; has_ak: number }>(
        `SELECT seq, ak_block IS NOT NULL AS has_ak FROM message
         WHERE direction = 'in' AND peer = ? AND message_id = ?`,
      )
      .get(sender, messageId);
    if (msg === undefined) return { found: false, changed: false, fullyDelivered: false };
    const addressed = u.st('SELECT 1 FROM delivery WHERE seq = ? AND device_id = ?').get(msg.seq, deviceId);
    const changed = u
      .st(
        `UPDATE delivery SET delivered_at = ?, key_block = NULL
         WHERE seq = ? AND device_id = ? AND delivered_at IS NULL`,
      )
      .run(now, msg.seq, deviceId).changes > 0;
    const left = u.st<[number], number>('SELECT pending_devices FROM message WHERE seq = ?').pluck().get(msg.seq);
    if (left === 0 && msg.has_ak === 0)
      u.st('UPDATE message SET payload = NULL WHERE seq = ? AND payload IS NOT NULL').run(msg.seq);
    return { found: addressed !== undefined, changed, fullyDelivered: left === 0 };
  });
}

export interface DeviceState {
  deviceId: number;
  deliveredAt: number | null;
  attempts: number;
}

/** Per-device state of one incoming message; undefined when the message is unknown. */
export function deliveryState(u: UserDb, sender: string, messageId: string): DeviceState[] | undefined {
  const seq = u
    .st<[string, string], number>("SELECT seq FROM message WHERE direction = 'in' AND peer = ? AND message_id = ?")
    .pluck()
    .get(sender, messageId);
  if (seq === undefined) return undefined;
  return u
    .st<[number], DeviceState>(
      `SELECT device_id AS deviceId, delivered_at AS deliveredAt, attempts
       FROM delivery WHERE seq = ? ORDER BY device_id`,
    )
    .all(seq);
}

export function holdsPayload(u: UserDb, sender: string, messageId: string): boolean {
  return (
    u
      .st<[string, string], number>("SELECT 1 FROM message WHERE direction = 'in' AND peer = ? AND message_id = ? AND payload IS NOT NULL")
      .pluck()
      .get(sender, messageId) !== undefined
  );
}

export interface PendingCounts {
  /** Messages with at least one undelivered device copy. */
  messages: number;
  /** Their payloads plus every undelivered key block, in bytes. */
  bytes: number;
}

export function pendingCounts(u: UserDb): PendingCounts {
  return {
    messages: Number(u.meta('pending_messages') ?? 0),
    bytes: Number(u.meta('pending_bytes') ?? 0),
  };
}
