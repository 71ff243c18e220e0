// ArchiveStore: the storage API the store, delivery and retention workers call (issues 5–7), on
// one encrypted SQLite file per user (user-files.ts: names, keys, handles, shredding); here the
// checks at the edge and the transactions (design.md "Storage", invariants 2–4).
import { AppError, ErrorCode } from '../errors/index.js';
import { initSodium } from '../keys/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { checkpoint, verifyPages, type DbCipher } from '../sqlite/index.js';
import { checkHistoryQuery, deleteHistory, queryHistory, type DeleteSelector, type HistoryPage, type HistoryQuery } from './history.js';
import { normaliseBareJid } from './jid.js';
import * as retention from './retention.js';
import * as transit from './transit.js';
import * as t from './types.js';
import { NO_USAGE, quotaUsage, type QuotaUsage } from './usage.js';
import type { BlobStore } from './blobs.js';
import { UserFiles, type ShredResult } from './user-files.js';
import type { UserRef } from './user-keys.js';
import type { UserDb } from './user-db.js';

export type { ShredResult } from './user-files.js';

export interface ArchiveStoreOptions {
  /** Directory of keyring.db and users/; created with mode 0700. */
  dir: string;
  /** 32-byte master key (loadMasterKey); the store keeps only subkeys derived from it. */
  masterKey: Uint8Array;
  cipher: DbCipher;
  /** Open user archives kept (LRU), default 64. */
  maxOpen?: number;
  logger?: Logger;
  /** Clock in ms since the epoch (tests inject one). */
  now?: () => number;
  /** Operator retention in seconds applied on top of each user's policy; 0 = none (default). */
  retentionSeconds?: number;
  limits?: Partial<t.ArchiveLimits>;
  /** Lock wait while opening keyring.db (ms; default the usual 5 s, kept for later writes): 0 fails at once (AppError Unavailable). */
  openBusyTimeoutMs?: number;
}

export async function createArchiveStore(options: ArchiveStoreOptions): Promise<ArchiveStore> {
  await initSodium('auto', { wasm: 'lazy' });
  return new ArchiveStore(options);
}

export class ArchiveStore {
  private readonly files: UserFiles;
  private readonly now: () => number;
  private readonly globalRetention: number;
  readonly limits: Readonly<t.ArchiveLimits>;

  /** Use createArchiveStore (libsodium must be initialised first). */
  constructor(options: ArchiveStoreOptions) {
    this.now = options.now ?? Date.now;
    this.globalRetention = options.retentionSeconds ?? 0;
    this.limits = Object.freeze({ ...t.DEFAULT_LIMITS, ...options.limits });
    const logger = (options.logger ?? silentLogger()).child({ module: 'archive' });
    this.files = new UserFiles({ dir: options.dir, masterKey: options.masterKey, cipher: options.cipher, maxOpen: options.maxOpen ?? 64, logger, now: this.now, ...(options.openBusyTimeoutMs === undefined ? {} : { openBusyTimeoutMs: options.openBusyTimeoutMs }) });
  }

  /** Uploaded file blobs, next to each user's archive (issue 17). */
  get blobs(): BlobStore {
    return this.files.blobs;
  }

  /** Hex keyed BLAKE2b-256 of the normalised bare JID: the user's file name. */
  userHash(jid: string): string {
    return this.files.userHash(jid);
  }

  /** Path of the user's archive file (it leaks no JID). */
  userPath(jid: string): string {
    return this.files.userPath(jid);
  }

  private use<T>(jid: string, create: boolean, fn: (u: UserDb) => T): T | undefined {
    return this.files.use(jid, create, fn);
  }

  private must<T>(jid: string, fn: (u: UserDb) => T): T {
    return this.files.must(jid, fn);
  }

  /** Commits a sealed item for `recipient`; idempotent on (sender, message id). */
  storeIncoming(recipient: string, item: t.IncomingItem): t.StoreResult {
    const checked = t.checkIncoming(item, this.limits);
    return this.must(recipient, (u) => transit.storeIncoming(u, checked, this.now()));
  }

  /**
   * Commits up to `limits.maxPage` items for one recipient in one transaction (one fsync): bulk
   * imports and test seeding. Each item is checked and deduplicated as by storeIncoming.
   */
  storeIncomingMany(recipient: string, items: readonly t.IncomingItem[]): t.StoreResult[] {
    return this.storeMany('storeIncomingMany', recipient, items, t.checkIncoming, transit.storeIncoming);
  }

  /** Commits the sender's own-AK copy in the sender's archive; idempotent on (recipient, message id). */
  storeOutgoing(sender: string, item: t.OutgoingItem): t.StoreResult {
    const checked = t.checkOutgoing(item, this.limits);
    return this.must(sender, (u) => transit.storeOutgoing(u, checked, this.now()));
  }

  /**
   * Commits several own-AK copies in the sender's archive in one transaction (one fsync): the
   * store worker's batches. Each is checked and deduplicated as by storeOutgoing.
   */
  storeOutgoingMany(sender: string, items: readonly t.OutgoingItem[]): t.StoreResult[] {
    return this.storeMany('storeOutgoingMany', sender, items, t.checkOutgoing, transit.storeOutgoing);
  }

  /** Checks every item first (a bad one stores none), then commits them all in one transaction. */
  private storeMany<I, C>(
    what: string,
    owner: string,
    items: readonly I[],
    check: (item: I, limits: t.ArchiveLimits) => C,
    store: (u: UserDb, item: C, now: number) => t.StoreResult,
  ): t.StoreResult[] {
    if (items.length > this.limits.maxPage) throw t.bad(`${what}: at most ${this.limits.maxPage} items`);
    const checked = items.map((item) => check(item, this.limits));
    return this.must(owner, (u) => u.tx(() => checked.map((item) => store(u, item, this.now()))));
  }

  /** Undelivered copies for one device in arrival order, after `afterSeq`. */
  pendingFor(jid: string, deviceId: number, opts: { afterSeq?: number; limit: number }): transit.PendingItem[] {
    t.checkUint('deviceId', deviceId, 1, 0x7fffffff);
    const after = t.checkUint('afterSeq', opts.afterSeq ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = t.checkUint('limit', opts.limit, 1, this.limits.maxPage);
    return this.use(jid, false, (u) => transit.pendingFor(u, deviceId, after, limit)) ?? [];
  }

  markAttempted(jid: string, deviceId: number, seqs: readonly number[]): number {
    t.checkUint('deviceId', deviceId, 1, 0x7fffffff);
    if (seqs.length > this.limits.maxPage) throw t.bad(`seqs: at most ${this.limits.maxPage}`);
    seqs.forEach((s, i) => t.checkUint(`seqs[${i}]`, s, 1, Number.MAX_SAFE_INTEGER));
    return this.use(jid, false, (u) => transit.markAttempted(u, deviceId, seqs, this.now())) ?? 0;
  }

  /** The recipient device's receipt: its copy is delivered; repeated receipts change nothing. */
  markDelivered(jid: string, deviceId: number, sender: string, messageId: string): transit.DeliveryResult {
    t.checkUint('deviceId', deviceId, 1, 0x7fffffff);
    const from = normaliseBareJid(sender);
    const id = t.checkMessageId(messageId, this.limits);
    const none = { found: false, changed: false, fullyDelivered: false };
    return this.use(jid, false, (u) => transit.markDelivered(u, deviceId, from, id, this.now())) ?? none;
  }

  /**
   * Several receipts of one device in one transaction (one fsync): a group commit of the receipts
   * that came in one stanza. Results in the order given; each as markDelivered would answer.
   */
  markDeliveredMany(jid: string, deviceId: number, receipts: readonly { sender: string; messageId: string }[]): transit.DeliveryResult[] {
    t.checkUint('deviceId', deviceId, 1, 0x7fffffff);
    if (receipts.length > this.limits.maxPage) throw t.bad(`markDeliveredMany: at most ${this.limits.maxPage} receipts`);
    const checked = receipts.map((r) => ({ sender: normaliseBareJid(r.sender), messageId: t.checkMessageId(r.messageId, this.limits) }));
    const none = checked.map(() => ({ found: false, changed: false, fullyDelivered: false }));
    if (checked.length === 0) return [];
    const now = this.now();
    return this.use(jid, false, (u) => u.tx(() => checked.map((r) => transit.markDelivered(u, deviceId, r.sender, r.messageId, now)))) ?? none;
  }

  /** True while (sender, message id) is stored with its payload: pending, or kept as a history copy. */
  holdsMessage(jid: string, sender: string, messageId: string): boolean {
    const from = normaliseBareJid(sender);
    const id = t.checkMessageId(messageId, this.limits);
    return this.use(jid, false, (u) => transit.holdsPayload(u, from, id)) ?? false;
  }

  deliveryState(jid: string, sender: string, messageId: string): transit.DeviceState[] | undefined {
    const from = normaliseBareJid(sender);
    const id = t.checkMessageId(messageId, this.limits);
    return this.use(jid, false, (u) => transit.deliveryState(u, from, id));
  }

  /** Undelivered messages and bytes for the per-recipient quota. */
  pendingCounts(jid: string): transit.PendingCounts {
    return this.use(jid, false, (u) => transit.pendingCounts(u)) ?? { messages: 0, bytes: 0 };
  }

  /**
   * The recipient's use of its quota (pending and kept history copies), in total and for
   * `senders` (or every sender): what the store worker checks and the quota mirror publishes.
   */
  quotaUsage(jid: string, senders: readonly string[] | 'all'): QuotaUsage {
    const from = senders === 'all' ? senders : senders.map((s) => normaliseBareJid(s));
    return this.use(jid, false, (u) => quotaUsage(u, from)) ?? { total: { ...NO_USAGE }, senders: new Map() };
  }

  /** A MAM/RSM page of the owner's history. NotFound for an unknown after/before id. */
  query(jid: string, q: HistoryQuery): HistoryPage {
    const checked = checkHistoryQuery(q, this.limits);
    const empty: HistoryPage = { items: [], complete: true, ...(q.count === true ? { count: 0 } : {}) };
    const page = this.use(jid, false, (u) => queryHistory(u, checked));
    if (page !== undefined) return page;
    // No archive yet: every id is unknown, as it would be in an empty one (MAM item-not-found).
    if ([checked.after, checked.afterId, checked.beforeId].some((v) => v !== undefined) || (checked.before ?? '') !== '')
      throw new AppError(ErrorCode.NotFound, 'no such archive id');
    return empty;
  }

  /** Deletes history items by ids and/or range; `{ all: true }` alone deletes every one. */
  deleteItems(jid: string, sel: DeleteSelector): number {
    const c = checkHistoryQuery({ ids: sel.ids, with: sel.with, start: sel.start, end: sel.end, max: 0 }, this.limits);
    const any = c.ids !== undefined || c.with !== undefined || c.start !== undefined || c.end !== undefined;
    if (any === (sel.all === true)) throw t.bad('deleteItems: give criteria, or all: true alone');
    return this.use(jid, false, (u) => deleteHistory(u, c)) ?? 0;
  }

  setRetention(jid: string, seconds: number | null): void {
    if (seconds !== null) t.checkUint('retention seconds', seconds, 1, 100 * 365 * 86400);
    this.must(jid, (u) => retention.setRetention(u, seconds));
  }

  getRetention(jid: string): number | null {
    return this.use(jid, false, (u) => retention.getRetention(u)) ?? null;
  }

  /** Removes up to `batch` messages past min(user, operator) retention; see PurgeResult. */
  purgeExpired(jid: string, now: number = this.now(), batch = 500): retention.PurgeResult {
    t.checkTime('now', now);
    t.checkUint('batch', batch, 1, 100_000);
    return (
      this.use(jid, false, (u) => retention.purgeExpired(u, now, batch, this.globalRetention)) ??
      { purged: 0, undelivered: [], done: true }
    );
  }

  /** Expires up to `batch` transit copies undelivered for `ttlSeconds`; returns them. */
  expireTransit(jid: string, now: number, ttlSeconds: number, batch = 500): retention.ExpireResult {
    t.checkTime('now', now);
    t.checkUint('ttlSeconds', ttlSeconds, 1, 100 * 365 * 86400);
    t.checkUint('batch', batch, 1, 100_000);
    return (
      this.use(jid, false, (u) => retention.expireTransit(u, now, ttlSeconds, batch)) ??
      { expired: [], tombstones: 0, done: true }
    );
  }

  /** Moves the user's WAL into the main file and empties it. */
  checkpoint(jid: string): boolean {
    return this.use(jid, false, (u) => !checkpoint(u.db, 'TRUNCATE').busy) ?? true;
  }

  /** Pages of the user's file and how many of them are free (for deciding on a vacuum). */
  spaceStats(jid: string): { pages: number; freePages: number } {
    const none = { pages: 0, freePages: 0 };
    return (
      this.use(jid, false, (u) => ({
        pages: Number(u.db.pragma('page_count', { simple: true })),
        freePages: Number(u.db.pragma('freelist_count', { simple: true })),
      })) ?? none
    );
  }

  /** Rebuilds the user's file to return freed pages to the file system. */
  vacuum(jid: string): void {
    this.use(jid, false, (u) => u.db.exec('VACUUM'));
  }

  /** Reads every page of the user's file; AppError(Corrupt) when one fails its MAC. */
  verify(jid: string): void {
    this.use(jid, false, (u) => verifyPages(u.db));
  }

  /**
   * Every row of every table of the user's archive, decrypted at rest (not end to end: payloads
   * and key blocks stay sealed). For audits such as the plaintext-canary scan; empty when the user
   * has no archive.
   */
  auditRows(jid: string): { table: string; rows: Record<string, unknown>[] }[] {
    return (
      this.use(jid, false, (u) =>
        u.db
          .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
          .all()
          .map(({ name }) => ({ table: name, rows: u.db.prepare<[], Record<string, unknown>>(`SELECT * FROM "${name.replace(/"/g, '""')}"`).all() })),
      ) ?? []
    );
  }

  /** Users with a key, in hash order, for retention sweeps. */
  listUsers(opts: { after?: string; limit?: number } = {}): UserRef[] {
    const limit = t.checkUint('limit', opts.limit ?? 1000, 1, 100_000);
    return this.files.list(opts.after ?? '', limit);
  }

  hasUser(jid: string): boolean {
    return this.files.has(jid);
  }

  /** Crypto-shredding: erase the wrapped key first, then the user's files. */
  shredUser(jid: string): ShredResult {
    return this.files.shred(jid);
  }

  /** Number of user archives currently open. */
  get openCount(): number {
    return this.files.openCount;
  }

  close(): void {
    this.files.close();
  }
}
