// The user archive files (design.md "Storage"): a user's file is named by a keyed hash of the
// normalised bare JID (names leak no JID), opened with that user's key from the wrapped user keys
// (keyring.db), kept in a bounded LRU of handles (100k users must not mean 100k open files), and
// crypto-shredded by erasing the wrapped key first, then the files.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { blake2b, wipe } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { isDbCipher, mapSqliteError, type DbCipher } from '../sqlite/index.js';
import { BlobStore } from './blobs.js';
import { normaliseBareJid } from './jid.js';
import { deriveArchiveSubkeys } from './master-key.js';
import { HandlePool } from './pool.js';
import { UserKeys, type UserRef } from './user-keys.js';
import { openUserDb, type UserDb } from './user-db.js';

export interface UserFilesOptions {
  /** Directory of keyring.db and users/; created with mode 0700. */
  dir: string;
  /** 32-byte master key; only subkeys derived from it are kept. */
  masterKey: Uint8Array;
  cipher: DbCipher;
  maxOpen: number;
  logger: Logger;
  now: () => number;
  /** Lock wait while opening keyring.db (ArchiveStoreOptions.openBusyTimeoutMs). */
  openBusyTimeoutMs?: number;
}

export interface ShredResult {
  keyErased: boolean;
  /** False when a reader of keyring.db kept the WAL from being emptied; retry checkpointKeyring(). */
  keyringCheckpointed: boolean;
  filesRemoved: number;
}

const FILE_SUFFIXES = ['', '-wal', '-shm', '-journal'] as const;
/** JID spellings whose owner and file name are remembered (every archive call needs both; issue 16). */
const NAMES_KEPT = 4096;

export class UserFiles {
  private readonly keys: UserKeys;
  private readonly nameKey: Uint8Array;
  private readonly pool: HandlePool;
  private readonly usersDir: string;
  private readonly cipher: DbCipher;
  /** Uploaded file blobs, next to each user's archive (issue 17). */
  readonly blobs: BlobStore;
  private closed = false;
  /** JID as given → its normalised owner and file name, oldest first (bounded by NAMES_KEPT). */
  private readonly names = new Map<string, { owner: string; hash: string }>();

  constructor(private readonly o: UserFilesOptions) {
    if (!isDbCipher(o.cipher)) throw new AppError(ErrorCode.Config, `archive cipher ${String(o.cipher)} refused`);
    this.cipher = o.cipher;
    this.usersDir = join(o.dir, 'users');
    mkdirSync(this.usersDir, { recursive: true, mode: 0o700 });
    const sub = deriveArchiveSubkeys(o.masterKey);
    this.nameKey = sub.names;
    this.blobs = new BlobStore(this.usersDir, sub.names);
    try {
      this.keys = UserKeys.open(join(o.dir, 'keyring.db'), sub.keyring, sub.wrap, this.cipher, o.openBusyTimeoutMs);
    } finally {
      wipe(sub.keyring);
    }
    this.refuseOrphanedArchives();
    this.pool = new HandlePool(o.maxOpen, o.logger);
  }

  /**
   * An empty keyring beside existing user files means keyring.db was lost or the wrong one is
   * mounted. Starting anyway would treat every file as a shredded user's leftover and delete it.
   */
  private refuseOrphanedArchives(): void {
    if (this.keys.list('', 1).length > 0) return;
    const files = readdirSync(this.usersDir).filter((n) => n.endsWith('.db')).length;
    if (files === 0) return;
    this.keys.close();
    throw new AppError(
      ErrorCode.Config,
      `keyring.db has no keys but ${files} archive file(s) exist in ${this.usersDir}: restore keyring.db or move the files away`,
    );
  }

  /** Hex keyed BLAKE2b-256 of the normalised bare JID: the user's file name. */
  userHash(jid: string): string {
    return this.nameOf(jid).hash;
  }

  /** The normalised owner of `jid` and its file name, computed once per spelling while remembered. */
  private nameOf(jid: string): { owner: string; hash: string } {
    if (this.closed) throw new AppError(ErrorCode.Unavailable, 'archive store is closed');
    let name = this.names.get(jid);
    if (name === undefined) {
      const owner = normaliseBareJid(jid);
      name = { owner, hash: Buffer.from(blake2b(32, new TextEncoder().encode(owner), this.nameKey)).toString('hex') };
      if (this.names.size >= NAMES_KEPT) this.names.delete(this.names.keys().next().value as string);
      this.names.set(jid, name);
    }
    return name;
  }

  /** Path of the user's archive file (it leaks no JID). */
  userPath(jid: string): string {
    return join(this.usersDir, `${this.userHash(jid)}.db`);
  }

  private open(hash: string, owner: string, create: boolean): UserDb | undefined {
    const uk = this.keys.userKey(hash, owner, create, this.o.now());
    if (uk === undefined) return undefined;
    const path = join(this.usersDir, `${hash}.db`);
    try {
      if (uk.created) {
        const stale = this.removeFiles(path);
        if (stale > 0) this.o.logger.warn({ userHash: hash, files: stale }, 'removed files of an interrupted shred');
      } else if (!existsSync(path)) {
        this.o.logger.warn({ userHash: hash }, 'archive file missing although its key exists; starting empty');
      }
      const u = openUserDb(path, uk.key, this.cipher, hash, owner, uk.tag, (db) => {
        if (!this.current(db)) throw new AppError(ErrorCode.Unavailable, 'this archive was shredded meanwhile; try again');
      });
      u.keyCheckedAt = this.keys.dataVersion();
      return u;
    } finally {
      wipe(uk.key);
    }
  }

  /**
   * True while `u` was opened with the user's current key. Another process on this data dir may
   * have shredded the user (the keyring changed under us: data_version); then a handle on the
   * unlinked file must not be read or written (issue 14, attack 8).
   */
  private current(u: UserDb): boolean {
    const version = this.keys.dataVersion();
    if (u.keyCheckedAt === version) return true;
    if (this.keys.currentTag(u.userHash) !== u.keyTag) return false;
    u.keyCheckedAt = version;
    return true;
  }

  /** Runs `fn` on the user's archive; undefined when it does not exist and `create` is false. */
  use<T>(jid: string, create: boolean, fn: (u: UserDb) => T): T | undefined {
    const { owner, hash } = this.nameOf(jid);
    try {
      const pooled = this.pool.peek(hash);
      if (pooled !== undefined && !this.current(pooled)) this.pool.remove(hash);
      return this.pool.use(hash, () => this.open(hash, owner, create), fn)?.value;
    } catch (err) {
      throw this.failed(hash, err);
    }
  }

  /** As use(), creating the archive when there is none. */
  must<T>(jid: string, fn: (u: UserDb) => T): T {
    const r = this.use(jid, true, (u) => ({ value: fn(u) }));
    if (r === undefined) throw new AppError(ErrorCode.Internal, 'archive not created');
    return r.value;
  }

  /** Maps SQLite errors; a corrupt or shredded archive's handle is closed so the next call reopens it. */
  private failed(hash: string, err: unknown): unknown {
    const mapped = mapSqliteError(err, 'archive');
    if (AppError.is(mapped, ErrorCode.Corrupt) || AppError.is(mapped, ErrorCode.Unavailable)) this.pool.remove(hash);
    return mapped;
  }

  /** Users with a key, in hash order. */
  list(after: string, limit: number): UserRef[] {
    if (this.closed) throw new AppError(ErrorCode.Unavailable, 'archive store is closed');
    return this.keys.list(after, limit);
  }

  has(jid: string): boolean {
    return this.keys.has(this.userHash(jid));
  }

  /**
   * Crypto-shredding: erase the wrapped key, and the user's files in the same keyring transaction
   * (nobody makes the user a new key and file before the old ones are gone). Meanwhile the old
   * file's write lock is held, so a writer in another process waits, then finds its key gone (the
   * write guard) instead of committing into an unlinked file; this process's handle is closed.
   */
  shred(jid: string): ShredResult {
    const { owner, hash } = this.nameOf(jid);
    const held = this.holdForShred(hash, owner);
    try {
      const path = join(this.usersDir, `${hash}.db`);
      const r = this.keys.erase(hash, () => this.removeFiles(path) + this.blobs.removeUser(hash));
      this.o.logger.info({ userHash: hash, keyErased: r.existed, keyringCheckpointed: r.checkpointed, filesRemoved: r.removed }, 'user shredded');
      return { keyErased: r.existed, keyringCheckpointed: r.checkpointed, filesRemoved: r.removed };
    } finally {
      held?.close(); // rolls the held transaction back on the unlinked file
    }
  }

  /** The user's archive out of the pool with its write lock taken; undefined when it cannot be opened. */
  private holdForShred(hash: string, owner: string): UserDb | undefined {
    let u: UserDb | undefined;
    if (this.pool.peek(hash) !== undefined) {
      u = this.pool.take(hash);
      if (u === undefined) throw new AppError(ErrorCode.Internal, 'cannot shred an archive in use');
    } else {
      try {
        u = this.open(hash, owner, false);
      } catch (err) {
        this.o.logger.warn({ userHash: hash, error: (err as Error).message }, 'shredding an archive that does not open');
        return undefined;
      }
    }
    try {
      u?.db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      u?.close();
      throw mapSqliteError(err, 'archive');
    }
    return u;
  }

  /** Number of user archives currently open. */
  get openCount(): number {
    return this.pool.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.closeAll();
    this.keys.close();
    this.blobs.close();
    this.names.clear();
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
