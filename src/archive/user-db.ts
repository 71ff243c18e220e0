// One open user archive: the encrypted SQLite handle, its owner check and a cache of prepared
// statements. The operations (transit.ts, history.ts, retention.ts) take this handle.
// Follows design.md "Storage": one file per user, per-user raw key, schema via migrations.
import { AppError, ErrorCode } from '../errors/index.js';
import { randomFillSync } from 'node:crypto';
import { migrate, openEncryptedDb, type Db, type DbCipher, type Statement } from '../sqlite/index.js';
import { USER_MIGRATIONS } from './schema.js';

/** Run first inside every write transaction: throws when the archive must not be written (shredded). */
export type WriteGuard = (u: UserDb) => void;

export class UserDb {
  private readonly statements = new Map<string, Statement>();
  /** The keyring's data_version when this handle's key was last seen current (user-files.ts). */
  keyCheckedAt = 0;

  constructor(
    readonly db: Db,
    readonly userHash: string,
    readonly owner: string,
    /** The tag of the key this file was opened with (user-keys.ts). */
    readonly keyTag = '',
    private readonly guard: WriteGuard = () => undefined,
  ) {}

  /** A prepared statement, cached for the life of the handle. */
  st<P extends unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R> {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s as unknown as Statement<P, R>;
  }

  /**
   * Runs `fn` in an IMMEDIATE transaction (one writer; commit is fsynced: synchronous=FULL). The
   * guard runs once the write lock is held, so a shred that held it meanwhile is seen (issue 14).
   */
  tx<T>(fn: () => T): T {
    return this.db
      .transaction(() => {
        this.guard(this);
        return fn();
      })
      .immediate();
  }

  /**
   * As tx, but its commit is not fsynced (synchronous=NORMAL for this one commit; WAL): kept
   * through a crash of the process, lost only in a power cut unless a later commit synced it. For
   * bookkeeping that may fall behind, never for what a receipt or an acknowledgement promises.
   */
  lightTx<T>(fn: () => T): T {
    this.st('PRAGMA synchronous = NORMAL').run();
    try {
      return this.tx(fn);
    } finally {
      this.st('PRAGMA synchronous = FULL').run();
    }
  }

  meta(key: string): unknown {
    return this.st<[string], unknown>('SELECT v FROM meta WHERE k = ?').pluck().get(key);
  }

  setMeta(key: string, value: number | string | null): void {
    if (value === null) this.st('DELETE FROM meta WHERE k = ?').run(key);
    else
      this.st('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(
        key,
        value,
      );
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}

/** Opens (creating if needed) a user's archive and checks that it belongs to `owner`. */
export function openUserDb(
  path: string,
  key: Uint8Array,
  cipher: DbCipher,
  userHash: string,
  owner: string,
  keyTag = '',
  guard?: WriteGuard,
): UserDb {
  const db = openEncryptedDb({ path, key, cipher });
  try {
    migrate(db, USER_MIGRATIONS);
    let stored = db.prepare("SELECT v FROM meta WHERE k = 'owner'").pluck().get();
    if (stored === undefined) {
      db.prepare("INSERT INTO meta (k, v) VALUES ('owner', ?)").run(owner);
      stored = owner;
    }
    if (stored !== owner)
      throw new AppError(ErrorCode.Corrupt, 'archive file belongs to another owner');
    return new UserDb(db, userHash, owner, keyTag, guard);
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Stable, unguessable archive id: 128 random bits, base64url (22 characters). */
/** Random bytes for archive ids (public identifiers) drawn 4 KiB at a time: one CSPRNG call per 256 ids, not one each. */
const idPool = Buffer.alloc(4096);
let idAt = idPool.length;

export function newArchiveId(): string {
  if (idAt + 16 > idPool.length) {
    randomFillSync(idPool);
    idAt = 0;
  }
  const id = idPool.toString('base64url', idAt, idAt + 16);
  idPool.fill(0, idAt, idAt + 16); // an id is drawn once
  idAt += 16;
  return id;
}
