// Retention of one user's archive (issue 7, XEP-0136 `expire` meaning): the user's policy in meta,
// purge past min(user, global) retention, and expiry of transit copies past their TTL that returns
// what expired so senders can be told. Every call is bounded by `batch` rows and one transaction.
import type { UserDb } from './user-db.js';

const RETENTION_KEY = 'retention_seconds';

/** The user's retention in seconds, or null when the user set none. */
export function getRetention(u: UserDb): number | null {
  const v = u.meta(RETENTION_KEY);
  return v === undefined || v === null ? null : Number(v);
}

export function setRetention(u: UserDb, seconds: number | null): void {
  u.tx(() => u.setMeta(RETENTION_KEY, seconds));
}

/** The tighter of the user's and the operator's retention; 0/null mean "keep". */
export function effectiveRetention(user: number | null, global: number): number | null {
  const limits = [user, global].filter((s): s is number => s !== null && s > 0);
  return limits.length === 0 ? null : Math.min(...limits);
}

/** An incoming message removed while copies for some devices were still undelivered. */
export interface ExpiredRef {
  sender: string;
  messageId: string;
  /** The devices that never acknowledged it. */
  deviceIds: number[];
}

export interface PurgeResult {
  /** Messages removed (history copy, payload and any transit copies). */
  purged: number;
  /** Of those, the ones still pending for some device: tell their senders. */
  undelivered: ExpiredRef[];
  /** False when `batch` rows were removed and more may be due: call again. */
  done: boolean;
}

interface Candidate {
  seq: number;
  direction: 'in' | 'out';
  peer: string;
  message_id: string;
  pending_devices: number;
  has_ak: number;
}

function pendingDevices(u: UserDb, seq: number): number[] {
  return u
    .st<[number], number>(
      'SELECT device_id FROM delivery WHERE seq = ? AND delivered_at IS NULL ORDER BY device_id',
    )
    .pluck()
    .all(seq);
}

/** Removes every message received before now − retention, oldest first, at most `batch`. */
export function purgeExpired(u: UserDb, now: number, batch: number, globalSeconds: number): PurgeResult {
  const retention = effectiveRetention(getRetention(u), globalSeconds);
  if (retention === null) return { purged: 0, undelivered: [], done: true };
  const cutoff = now - retention * 1000;
  return u.tx(() => {
    const rows = u
      .st<[number, number], Candidate>(
        `SELECT seq, direction, peer, message_id, pending_devices, ak_block IS NOT NULL AS has_ak
         FROM message WHERE received_at < ? ORDER BY received_at, seq LIMIT ?`,
      )
      .all(cutoff, batch);
    const undelivered: ExpiredRef[] = [];
    const del = u.st('DELETE FROM message WHERE seq = ?');
    for (const r of rows) {
      if (r.direction === 'in' && r.pending_devices > 0)
        undelivered.push({ sender: r.peer, messageId: r.message_id, deviceIds: pendingDevices(u, r.seq) });
      del.run(r.seq);
    }
    return { purged: rows.length, undelivered, done: rows.length < batch };
  });
}

export interface ExpireResult {
  /** Messages whose undelivered copies expired: tell their senders. */
  expired: ExpiredRef[];
  /** Dedupe tombstones (delivered, no history copy) older than the TTL that were dropped. */
  tombstones: number;
  done: boolean;
}

/**
 * Drops transit copies still undelivered after `ttlSeconds`; a message without a history copy goes
 * entirely, one with a history copy keeps it. Also drops tombstones older than the TTL.
 */
export function expireTransit(u: UserDb, now: number, ttlSeconds: number, batch: number): ExpireResult {
  const cutoff = now - ttlSeconds * 1000;
  return u.tx(() => {
    const rows = u
      .st<[number, number], Candidate>(
        `SELECT seq, direction, peer, message_id, pending_devices, ak_block IS NOT NULL AS has_ak
         FROM message WHERE (pending_devices > 0 OR payload IS NULL) AND received_at < ?
         ORDER BY received_at, seq LIMIT ?`,
      )
      .all(cutoff, batch);
    const expired: ExpiredRef[] = [];
    let tombstones = 0;
    const dropCopies = u.st('DELETE FROM delivery WHERE seq = ?');
    const dropMessage = u.st('DELETE FROM message WHERE seq = ?');
    for (const r of rows) {
      if (r.pending_devices > 0) {
        expired.push({ sender: r.peer, messageId: r.message_id, deviceIds: pendingDevices(u, r.seq) });
        if (r.has_ak === 1) dropCopies.run(r.seq);
        else dropMessage.run(r.seq);
      } else {
        tombstones++;
        dropMessage.run(r.seq);
      }
    }
    return { expired, tombstones, done: rows.length < batch };
  });
}
