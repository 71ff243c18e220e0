// ArchiveStore: the storage API the store, delivery and retention workers call (issues 5–7).
// One encrypted SQLite file per user named by a keyed hash of the normalised bare JID, per-user keys
// in the keyring, a bounded LRU of handles, crypto-shredding (design.md "Storage", invariants 2–4).
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { blake2b, initSodium, wipe } from '../keys/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { checkpoint, isDbCipher, mapSqliteError, verifyPages, type DbCipher } from '../sqlite/index.js';
import { BlobStore } from './blobs.js';
import { checkHistoryQuery, deleteHistory, queryHistory, type DeleteSelector, type HistoryPage, type HistoryQuery } from './history.js';
import { normaliseBareJid } from './jid.js';
import { Keyring, type UserRef } from './keyring.js';
import { deriveArchiveSubkeys } from './master-key.js';
import { HandlePool } from './pool.js';
import * as retention from './retention.js';
import * as transit from './transit.js';
import * as t from './types.js';
import { openUserDb, type UserDb } from './user-db.js';

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
}

export interface ShredResult {
  keyErased: boolean;
  /** False when a reader of keyring.db kept the WAL from being emptied; retry checkpointKeyring(). */
  keyringCheckpointed: boolean;
  filesRemoved: number;
}

const FILE_SUFFIXES = ['', '-wal', '-shm', '-journal'] as const;

export async function createArchiveStore(options: ArchiveStoreOptions): Promise<ArchiveStore> {
  await initSodium();
  return new ArchiveStore(options);
}

export class ArchiveStore {
  private readonly keyring: Keyring;
  private readonly nameKey: Uint8Array;
  private readonly pool: HandlePool;
  private readonly usersDir: string;
  private readonly cipher: DbCipher;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly globalRetention: number;
  readonly limits: Readonly<t.ArchiveLimits>;
  /** Uploaded file blobs, next to each user's archive (issue 17). */
  readonly blobs: BlobStore;
  private closed = false;

  /** Use createArchiveStore (libsodium must be initialised first). */
  constructor(options: ArchiveStoreOptions) {
    if (!isDbCipher(options.cipher))
      throw new AppError(ErrorCode.Config, `archive cipher ${String(options.cipher)} refused`);
    this.cipher = options.cipher;
    this.log = (options.logger ?? silentLogger()).child({ module: 'archive' });
    this.now = options.now ?? Date.now;
    this.globalRetention = options.retentionSeconds ?? 0;
    this.limits = Object.freeze({ ...t.DEFAULT_LIMITS, ...options.limits });
    this.usersDir = join(options.dir, 'users');
    mkdirSync(this.usersDir, { recursive: true, mode: 0o700 });
    const sub = deriveArchiveSubkeys(options.masterKey);
    this.nameKey = sub.names;
    this.blobs = new BlobStore(this.usersDir, sub.names);
    try {
      this.keyring = Keyring.open(join(options.dir, 'keyring.db'), sub.keyring, sub.wrap, this.cipher);
    } finally {
      wipe(sub.keyring);
    }
    this.refuseOrphanedArchives();
    this.pool = new HandlePool(options.maxOpen ?? 64, this.log);
  }

  /**
   * An empty keyring beside existing user files means keyring.db was lost or the wrong one is
   * mounted. Starting anyway would treat every file as a shredded user's leftover and delete it.
   */
  private refuseOrphanedArchives(): void {
    if (this.keyring.list('', 1).length > 0) return;
    const files = readdirSync(this.usersDir).filter((n) => n.endsWith('.db')).length;
    if (files === 0) return;
    this.keyring.close();
    throw new AppError(
      ErrorCode.Config,
      `keyring.db has no keys but ${files} archive file(s) exist in ${this.usersDir}: restore keyring.db or move the files away`,
    );
  }

  /** Hex keyed BLAKE2b-256 of the normalised bare JID: the user's file name. */
  userHash(jid: string): string {
    if (this.closed) throw new AppError(ErrorCode.Unavailable, 'archive store is closed');
    const owner = normaliseBareJid(jid);
    return Buffer.from(blake2b(32, new TextEncoder().encode(owner), this.nameKey)).toString('hex');
  }

  /** Path of the user's archive file (it leaks no JID). */
  userPath(jid: string): string {
    return join(this.usersDir, `${this.userHash(jid)}.db`);
  }

  private open(hash: string, owner: string, create: boolean): UserDb | undefined {
    const uk = this.keyring.userKey(hash, owner, create, this.now());
    if (uk === undefined) return undefined;
    const path = join(this.usersDir, `${hash}.db`);
    try {
      if (uk.created) {
        const stale = this.removeFiles(path);
        if (stale > 0) this.log.warn({ userHash: hash, files: stale }, 'removed files of an interrupted shred');
      } else if (!existsSync(path)) {
        this.log.warn({ userHash: hash }, 'archive file missing although its key exists; starting empty');
      }
      return openUserDb(path, uk.key, this.cipher, hash, owner);
    } finally {
      wipe(uk.key);
    }
  }

  /** Runs `fn` on the user's archive; undefined when it does not exist and `create` is false. */
  private use<T>(jid: string, create: boolean, fn: (u: UserDb) => T): T | undefined {
    const owner = normaliseBareJid(jid);
    const hash = this.userHash(owner);
    try {
      return this.pool.use(hash, () => this.open(hash, owner, create), fn)?.value;
    } catch (err) {
      throw this.failed(hash, err);
    }
  }

  private must<T>(jid: string, fn: (u: UserDb) => T): T {
    const owner = normaliseBareJid(jid);
    const hash = this.userHash(owner);
    try {
      const r = this.pool.use(hash, () => this.open(hash, owner, true), fn);
      if (r === undefined) throw new AppError(ErrorCode.Internal, 'archive not created');
      return r.value;
    } catch (err) {
      throw this.failed(hash, err);
    }
  }

  /** Maps SQLite errors; a corrupt archive's handle is closed so the next call reopens it. */
  private failed(hash: string, err: unknown): unknown {
    const mapped = mapSqliteError(err, 'archive');
    if (AppError.is(mapped, ErrorCode.Corrupt)) this.pool.remove(hash);
    return mapped;
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
    if (items.length > this.limits.maxPage) throw t.bad(`storeIncomingMany: at most ${this.limits.maxPage} items`);
    const checked = items.map((item) => t.checkIncoming(item, this.limits));
    return this.must(recipient, (u) => u.tx(() => checked.map((item) => transit.storeIncoming(u, item, this.now()))));
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
    if (items.length > this.limits.maxPage) throw t.bad(`storeOutgoingMany: at most ${this.limits.maxPage} items`);
    const checked = items.map((item) => t.checkOutgoing(item, this.limits));
    return this.must(sender, (u) => u.tx(() => checked.map((item) => transit.storeOutgoing(u, item, this.now()))));
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
    if (this.closed) throw new AppError(ErrorCode.Unavailable, 'archive store is closed');
    const limit = t.checkUint('limit', opts.limit ?? 1000, 1, 100_000);
    return this.keyring.list(opts.after ?? '', limit);
  }

  hasUser(jid: string): boolean {
    return this.keyring.has(this.userHash(jid));
  }

  /** Crypto-shredding: erase the wrapped key first, then the user's files. */
  shredUser(jid: string): ShredResult {
    const owner = normaliseBareJid(jid);
    const hash = this.userHash(owner);
    if (!this.pool.remove(hash)) throw new AppError(ErrorCode.Internal, 'cannot shred an archive in use');
    const { existed, checkpointed } = this.keyring.erase(hash);
    const filesRemoved = this.removeFiles(join(this.usersDir, `${hash}.db`)) + this.blobs.removeUser(hash);
    this.log.info({ userHash: hash, keyErased: existed, keyringCheckpointed: checkpointed, filesRemoved }, 'user shredded');
    return { keyErased: existed, keyringCheckpointed: checkpointed, filesRemoved };
  }

  /** Number of user archives currently open. */
  get openCount(): number {
    return this.pool.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.closeAll();
    this.keyring.close();
    this.blobs.close();
    wipe(this.nameKey);
  }

  private removeFiles(path: string): number {
    let n = 0;
    for (const suffix of FILE_SUFFIXES) {
      if (!existsSync(path + suffix)) continue;
      rmSync(path + suffix, { force: true });
      n++;
    }
    return n;
  }
}
