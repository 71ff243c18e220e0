// Item types of the archive and their checks at the edge (design.md invariant 5). The server only
// ever holds ids, JIDs, timestamps, sizes and opaque sealed bytes: nothing here is decrypted.
// Times are milliseconds since the Unix epoch (server clock).
import { AppError, ErrorCode } from '../errors/index.js';
import { normaliseBareJid } from './jid.js';

/** One recipient device's key block, labelled with the prekey it was sealed to (design.md sp1 §4). */
export interface KeyBlock {
  /** Recipient device id (random 31-bit, ≥ 1). */
  deviceId: number;
  /** Id of the signed or one-time prekey the block was sealed to (uint32). */
  prekeyId: number;
  block: Uint8Array;
}

/** The key block sealed to an archive key (AK): the history copy. */
export interface ArchiveBlock {
  /** Which of the owner's archive keys opens it (uint32), so rotated AKs stay usable. */
  akId: number;
  block: Uint8Array;
}

/** A sealed message for the archive's owner, as the store worker commits it. */
export interface IncomingItem {
  /** The sender's bare JID as the XMPP server stamped it. */
  sender: string;
  senderDevice: number;
  messageId: string;
  suite: string;
  /** Sealed payload (XChaCha20-Poly1305 ciphertext), stored once for every copy. */
  payload: Uint8Array;
  /** One per addressed recipient device: the pending transit copies. May be empty. */
  deviceBlocks: readonly KeyBlock[];
  /** Sealed to the recipient's AK; absent when the recipient publishes no AK. */
  archiveBlock?: ArchiveBlock | undefined;
  /** When the vault received the stanza; defaults to the store's clock. */
  receivedAt?: number | undefined;
}

/** The sender's own-AK copy of a message it sent, kept in the sender's archive. */
export interface OutgoingItem {
  recipient: string;
  senderDevice: number;
  messageId: string;
  suite: string;
  payload: Uint8Array;
  archiveBlock: ArchiveBlock;
  receivedAt?: number | undefined;
}

export interface StoreResult {
  /** False when (sender, message id) was already stored: nothing changed. */
  inserted: boolean;
  archiveId: string;
  /** True when a repeat carried a different payload than the stored one (first write wins). */
  conflict: boolean;
}

export interface ArchiveLimits {
  maxPayloadBytes: number;
  maxKeyBlockBytes: number;
  maxDevices: number;
  maxMessageIdLength: number;
  /** Largest page of history or pending items returned by one call. */
  maxPage: number;
  /** Most archive ids in one `ids` filter or delete. */
  maxIds: number;
}

export const DEFAULT_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxPayloadBytes: 192 * 1024,
  // sp1 key blocks reach ~4.5 KiB with the longest JIDs and ids; keep headroom.
  maxKeyBlockBytes: 8192,
  maxDevices: 32,
  maxMessageIdLength: 256,
  maxPage: 1000,
  maxIds: 1000,
});

const SUITE = /^[a-z0-9][a-z0-9._-]{0,31}$/;
const ARCHIVE_ID = /^[A-Za-z0-9_-]{22}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_TIME = 8.64e15;

export function bad(what: string): AppError {
  return new AppError(ErrorCode.BadInput, what);
}

export function checkUint(label: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw bad(`${label}: expected an integer in [${min}, ${max}]`);
  return v;
}

export function checkTime(label: string, v: unknown): number {
  return checkUint(label, v, 0, MAX_TIME);
}

export function checkBytes(label: string, v: unknown, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(`${label}: expected bytes`);
  if (v.length === 0 || v.length > max) throw bad(`${label}: expected 1..${max} bytes, got ${v.length}`);
  return v;
}

export function checkMessageId(v: unknown, limits: ArchiveLimits): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > limits.maxMessageIdLength || CONTROL.test(v))
    throw bad(`messageId: expected 1..${limits.maxMessageIdLength} printable characters`);
  return v;
}

export function checkArchiveId(label: string, v: unknown): string {
  if (typeof v !== 'string' || !ARCHIVE_ID.test(v)) throw bad(`${label}: not an archive id`);
  return v;
}

function checkSuite(v: unknown): string {
  if (typeof v !== 'string' || !SUITE.test(v)) throw bad('suite: malformed');
  return v;
}

function checkArchiveBlock(v: ArchiveBlock | undefined, limits: ArchiveLimits): ArchiveBlock | undefined {
  if (v === undefined) return undefined;
  return {
    akId: checkUint('archiveBlock.akId', v.akId, 0, 0xffffffff),
    block: checkBytes('archiveBlock.block', v.block, limits.maxKeyBlockBytes),
  };
}

/** Checked, normalised incoming item (sender JID normalised). */
export function checkIncoming(item: IncomingItem, limits: ArchiveLimits): IncomingItem {
  const blocks = item.deviceBlocks;
  if (!Array.isArray(blocks) || blocks.length > limits.maxDevices)
    throw bad(`deviceBlocks: at most ${limits.maxDevices}`);
  const seen = new Set<number>();
  const deviceBlocks = blocks.map((b: KeyBlock, i) => {
    const deviceId = checkUint(`deviceBlocks[${i}].deviceId`, b.deviceId, 1, 0x7fffffff);
    if (seen.has(deviceId)) throw bad(`deviceBlocks: device ${deviceId} twice`);
    seen.add(deviceId);
    return {
      deviceId,
      prekeyId: checkUint(`deviceBlocks[${i}].prekeyId`, b.prekeyId, 0, 0xffffffff),
      block: checkBytes(`deviceBlocks[${i}].block`, b.block, limits.maxKeyBlockBytes),
    };
  });
  const archiveBlock = checkArchiveBlock(item.archiveBlock, limits);
  if (deviceBlocks.length === 0 && archiveBlock === undefined)
    throw bad('item has neither a device key block nor an archive block');
  return {
    sender: normaliseBareJid(item.sender),
    senderDevice: checkUint('senderDevice', item.senderDevice, 1, 0x7fffffff),
    messageId: checkMessageId(item.messageId, limits),
    suite: checkSuite(item.suite),
    payload: checkBytes('payload', item.payload, limits.maxPayloadBytes),
    deviceBlocks,
    archiveBlock,
    receivedAt: item.receivedAt === undefined ? undefined : checkTime('receivedAt', item.receivedAt),
  };
}

export function checkOutgoing(item: OutgoingItem, limits: ArchiveLimits): OutgoingItem {
  const archiveBlock = checkArchiveBlock(item.archiveBlock, limits);
  if (archiveBlock === undefined) throw bad('archiveBlock: required for an outgoing copy');
  return {
    recipient: normaliseBareJid(item.recipient),
    senderDevice: checkUint('senderDevice', item.senderDevice, 1, 0x7fffffff),
    messageId: checkMessageId(item.messageId, limits),
    suite: checkSuite(item.suite),
    payload: checkBytes('payload', item.payload, limits.maxPayloadBytes),
    archiveBlock,
    receivedAt: item.receivedAt === undefined ? undefined : checkTime('receivedAt', item.receivedAt),
  };
}
