// Trust in senders' identity keys (design.md, "Cryptographic construction", step 5): pinned on
// first use or verified by fingerprint; a changed key for a pinned (jid, device) is refused with
// ErrorCode.UntrustedKey and kept as pending until the user accepts it. Never accepted silently.
// Trust is per account too (issue 14, attack 4): a new device of a contact with a pinned device
// is 'new-device', an event for the application, or refused until accepted (acceptDevice).
import { AppError, ErrorCode } from '../errors/index.js';
import { argBytes } from './fields.js';
import { displayFingerprint, fingerprint } from './identity.js';
import { constantTimeEqual, ED25519_PUBLIC_BYTES, HASH_BYTES } from './sodium.js';

export type TrustLevel = 'tofu' | 'verified';

export interface TrustRecord {
  readonly jid: string;
  readonly device: number;
  readonly identityKey: Uint8Array;
  readonly level: TrustLevel;
  readonly firstSeen: number;
  readonly updatedAt: number;
  /** A different key seen for this (jid, device), waiting for the user's decision. */
  readonly pending?: { readonly identityKey: Uint8Array; readonly seenAt: number };
}

export interface TrustStore {
  get(jid: string, device: number): Promise<TrustRecord | undefined>;
  /** Pins a key on first use; the same key again is a no-op; a different key is UntrustedKey. */
  pin(jid: string, device: number, identityKey: Uint8Array, now: number): Promise<TrustRecord>;
  /** The user compared fingerprints: marks the pinned key verified if `fp` is its fingerprint. */
  markVerified(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord>;
  /** Records a changed key as pending (not trusted). */
  notePending(jid: string, device: number, identityKey: Uint8Array, now: number): Promise<void>;
  /** The user accepts the pending key whose fingerprint is `fp`; it replaces the pinned key. */
  acceptChange(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord>;
  list(): Promise<readonly TrustRecord[]>;
  /** True when some device of `jid` is pinned (a known contact). */
  hasContact(jid: string): Promise<boolean>;
  /** Remembers a new device's key that was refused, for acceptDevice (the file store persists it). */
  noteNewDevice(jid: string, device: number, identityKey: Uint8Array, now: number): Promise<void>;
  /** The user accepts the refused new device whose fingerprint is `fp`: its key is pinned. */
  acceptDevice(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord>;
}

const keyOf = (jid: string, device: number): string => `${device}:${jid}`;

/** A new device of a known contact, refused under the 'refuse' policy and waiting for the user. */
export interface RefusedDevice {
  readonly jid: string;
  readonly device: number;
  readonly identityKey: Uint8Array;
  readonly seenAt: number;
}

/** Refused devices remembered at most; past it the oldest is forgotten (it is refused again when it speaks). */
export const MAX_REFUSED_DEVICES = 1024;

/** The rules on a map of records; the stores add persistence around it. */
export class TrustBook {
  readonly records = new Map<string, TrustRecord>();
  /** New devices of known contacts refused until accepted, by (jid, device), oldest first; bounded. */
  readonly newDevices = new Map<string, RefusedDevice>();

  hasContact(jid: string): boolean {
    for (const r of this.records.values()) if (r.jid === jid) return true;
    return false;
  }

  /** Notes a refused new device; false when that very key was already noted. */
  noteNewDevice(jid: string, device: number, identityKey: Uint8Array, now: number): boolean {
    argBytes('identity key', identityKey, ED25519_PUBLIC_BYTES);
    const k = keyOf(jid, device);
    const old = this.newDevices.get(k);
    if (old !== undefined && constantTimeEqual(old.identityKey, identityKey)) return false;
    this.newDevices.delete(k);
    for (const oldest of this.newDevices.keys()) {
      if (this.newDevices.size < MAX_REFUSED_DEVICES) break;
      this.newDevices.delete(oldest);
    }
    this.newDevices.set(k, { jid, device, identityKey: identityKey.slice(), seenAt: now });
    return true;
  }

  acceptDevice(jid: string, device: number, fp: Uint8Array, now: number): TrustRecord {
    argBytes('fingerprint', fp, HASH_BYTES);
    const key = this.newDevices.get(keyOf(jid, device))?.identityKey;
    if (key === undefined) throw new AppError(ErrorCode.NotFound, `no new device ${device} of ${jid} waiting to be accepted`);
    if (!constantTimeEqual(fingerprint(key), fp))
      throw new AppError(ErrorCode.UntrustedKey, `fingerprint does not match the new device ${device} of ${jid}`);
    const rec = this.pin(jid, device, key, now);
    this.newDevices.delete(keyOf(jid, device));
    return rec;
  }

  get(jid: string, device: number): TrustRecord | undefined {
    return this.records.get(keyOf(jid, device));
  }

  pin(jid: string, device: number, identityKey: Uint8Array, now: number): TrustRecord {
    argBytes('identity key', identityKey, ED25519_PUBLIC_BYTES);
    const old = this.get(jid, device);
    if (old !== undefined) {
      if (constantTimeEqual(old.identityKey, identityKey)) return old;
      throw changed(old, identityKey);
    }
    const rec: TrustRecord = { jid, device, identityKey: identityKey.slice(), level: 'tofu', firstSeen: now, updatedAt: now };
    this.records.set(keyOf(jid, device), rec);
    return rec;
  }

  markVerified(jid: string, device: number, fp: Uint8Array, now: number): TrustRecord {
    argBytes('fingerprint', fp, HASH_BYTES);
    const old = this.get(jid, device);
    if (old === undefined) throw new AppError(ErrorCode.NotFound, `no key pinned for ${jid} device ${device}`);
    if (!constantTimeEqual(fingerprint(old.identityKey), fp))
      throw new AppError(ErrorCode.UntrustedKey, `fingerprint does not match the key pinned for ${jid} device ${device}`);
    const rec: TrustRecord = { ...old, level: 'verified', updatedAt: now };
    this.records.set(keyOf(jid, device), rec);
    return rec;
  }

  notePending(jid: string, device: number, identityKey: Uint8Array, now: number): void {
    const old = this.get(jid, device);
    if (old === undefined || constantTimeEqual(old.identityKey, identityKey)) return;
    if (old.pending !== undefined && constantTimeEqual(old.pending.identityKey, identityKey)) return;
    this.records.set(keyOf(jid, device), { ...old, pending: { identityKey: identityKey.slice(), seenAt: now } });
  }

  acceptChange(jid: string, device: number, fp: Uint8Array, now: number): TrustRecord {
    argBytes('fingerprint', fp, HASH_BYTES);
    const old = this.get(jid, device);
    const pending = old?.pending;
    if (old === undefined || pending === undefined)
      throw new AppError(ErrorCode.NotFound, `no changed key pending for ${jid} device ${device}`);
    if (!constantTimeEqual(fingerprint(pending.identityKey), fp))
      throw new AppError(ErrorCode.UntrustedKey, `fingerprint does not match the pending key of ${jid} device ${device}`);
    const rec: TrustRecord = { jid, device, identityKey: pending.identityKey, level: 'tofu', firstSeen: old.firstSeen, updatedAt: now };
    this.records.set(keyOf(jid, device), rec);
    return rec;
  }
}

function changed(old: TrustRecord, identityKey: Uint8Array): AppError {
  return new AppError(
    ErrorCode.UntrustedKey,
    `identity key of ${old.jid} device ${old.device} changed: pinned ${displayFingerprint(old.identityKey)}, ` +
      `now ${displayFingerprint(identityKey)}; refused until the user accepts the new key`,
  );
}

/** In-memory trust store, for tests and short-lived agents. */
export class MemoryTrustStore implements TrustStore {
  protected readonly book = new TrustBook();

  get(jid: string, device: number): Promise<TrustRecord | undefined> {
    return Promise.resolve(this.book.get(jid, device));
  }
  pin(jid: string, device: number, ik: Uint8Array, now: number): Promise<TrustRecord> {
    return Promise.resolve().then(() => this.book.pin(jid, device, ik, now));
  }
  markVerified(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord> {
    return Promise.resolve().then(() => this.book.markVerified(jid, device, fp, now));
  }
  notePending(jid: string, device: number, ik: Uint8Array, now: number): Promise<void> {
    return Promise.resolve().then(() => this.book.notePending(jid, device, ik, now));
  }
  acceptChange(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord> {
    return Promise.resolve().then(() => this.book.acceptChange(jid, device, fp, now));
  }
  list(): Promise<readonly TrustRecord[]> {
    return Promise.resolve([...this.book.records.values()]);
  }
  hasContact(jid: string): Promise<boolean> {
    return Promise.resolve(this.book.hasContact(jid));
  }
  noteNewDevice(jid: string, device: number, ik: Uint8Array, now: number): Promise<void> {
    return Promise.resolve().then(() => void this.book.noteNewDevice(jid, device, ik, now));
  }
  acceptDevice(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord> {
    return Promise.resolve().then(() => this.book.acceptDevice(jid, device, fp, now));
  }
}

/** 'new': first use of a new contact; 'new-device': a new device of a known contact (both pinned by the caller). */
export type TrustDecision = 'new' | 'new-device' | TrustLevel;

/** What a new device of a known contact meets: an event ('alert', the default) or a refusal until accepted. */
export type NewDevicePolicy = 'alert' | 'refuse';

/**
 * Decides whether `identityKey` may speak for (jid, device) without changing anything:
 * 'new' (first use; the caller pins after every other check passed), 'new-device' (the same for
 * another device of a known contact; refused with UntrustedKey under the 'refuse' policy),
 * 'tofu' or 'verified'. A changed key is noted as pending and refused with UntrustedKey; so is
 * an unknown key when `tofu` is false.
 */
export async function checkTrust(
  store: TrustStore,
  jid: string,
  device: number,
  identityKey: Uint8Array,
  now: number,
  tofu = true,
  newDevices: NewDevicePolicy = 'alert',
): Promise<TrustDecision> {
  const rec = await store.get(jid, device);
  if (rec === undefined) {
    const known = await store.hasContact(jid);
    if (known && newDevices === 'refuse') {
      await store.noteNewDevice(jid, device, identityKey, now);
      throw new AppError(
        ErrorCode.UntrustedKey,
        `new device ${device} of ${jid} (${displayFingerprint(identityKey)}): refused until the user accepts it`,
      );
    }
    if (tofu) return known ? 'new-device' : 'new';
    throw new AppError(ErrorCode.UntrustedKey, `no trusted key for ${jid} device ${device} and trust on first use is off`);
  }
  if (constantTimeEqual(rec.identityKey, identityKey)) return rec.level;
  await store.notePending(jid, device, identityKey, now);
  throw changed(rec, identityKey);
}
