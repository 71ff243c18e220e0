// The only module that imports the SQLite binding (better-sqlite3-multiple-ciphers). It opens
// databases encrypted at rest with SQLite3MultipleCiphers (design.md "Storage": chacha20 or aegis,
// never CBC/RC4, raw 32-byte key, WAL, synchronous=FULL asserted after open) and runs migrations.
import Database from 'better-sqlite3-multiple-ciphers';
import { AppError, ErrorCode } from '../errors/index.js';
import { mapSqliteError, isSqliteError } from './errors.js';

export { mapSqliteError, isSqliteError } from './errors.js';

/** An open database handle. Other modules use this type instead of importing the binding. */
export type Db = Database.Database;
export type Statement<P extends unknown[] = unknown[], R = unknown> = Database.Statement<P, R>;

/** Authenticated page ciphers only. CBC (aes128cbc, aes256cbc, sqlcipher), RC4 and ascon are refused. */
export const DB_CIPHERS = ['chacha20', 'aegis'] as const;
export type DbCipher = (typeof DB_CIPHERS)[number];

export const DB_KEY_BYTES = 32;

/** How long a connection waits on a lock held by another connection unless told otherwise (ms). */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export interface OpenEncryptedDbOptions {
  path: string;
  /** Raw 32-byte page key; copied into SQLite, the caller keeps (and wipes) its own buffer. */
  key: Uint8Array;
  cipher: DbCipher;
  /** Fail with NotFound instead of creating a new file. */
  mustExist?: boolean;
  /** ms to wait on a lock held by another connection (default 5000). */
  busyTimeoutMs?: number;
  /** Overwrite deleted content inside the file (default true): retention and shredding mean gone. */
  secureDelete?: boolean;
}

/** Per-cipher parameters, set after `PRAGMA cipher`. Only the raw-key path is used, so no KDF. */
const CIPHER_PARAMS: Record<DbCipher, readonly string[]> = {
  // Non-legacy layout (sqleet legacy mode encrypts differently and uses a weaker KDF setting).
  chacha20: ['legacy = 0'],
  // AEGIS-256 takes a 32-byte key; the 128-bit variants would read our 32 bytes as key ‖ salt.
  aegis: ["algorithm = 'aegis-256'"],
};

export function isDbCipher(value: unknown): value is DbCipher {
  return typeof value === 'string' && (DB_CIPHERS as readonly string[]).includes(value);
}

/**
 * Opens (or creates) a database encrypted with `cipher` under the raw `key`, proves the key by
 * reading, and asserts WAL + synchronous=FULL. Wrong key → AppError(WrongKey); a damaged page
 * met while proving the key → AppError(Corrupt).
 */
export function openEncryptedDb(options: OpenEncryptedDbOptions): Db {
  const { path, key, cipher } = options;
  if (!isDbCipher(cipher))
    throw new AppError(
      ErrorCode.Config,
      `cipher ${JSON.stringify(cipher)} refused: only ${DB_CIPHERS.join(', ')} are allowed`,
    );
  if (!(key instanceof Uint8Array)) throw new TypeError('key: expected Uint8Array');
  if (key.length !== DB_KEY_BYTES)
    throw new RangeError(`key: expected ${DB_KEY_BYTES} bytes, got ${key.length}`);

  let db: Db;
  try {
    db = new Database(path, {
      fileMustExist: options.mustExist ?? false,
      timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    });
  } catch (err) {
    if (isSqliteError(err, 'SQLITE_CANTOPEN') && options.mustExist)
      throw new AppError(ErrorCode.NotFound, 'database file does not exist', { cause: err });
    throw mapSqliteError(err, 'open');
  }
  try {
    configureCipher(db, cipher);
    applyRawKey(db, key);
    proveKey(db);
    configureDurability(db, options.secureDelete ?? true);
    track(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

// Every handle this module opened that may still be open: tests count them to prove that a failed
// start or a stop leaves none behind (issue 13). Closed ones are dropped at each count and open.
const opened = new Set<Db>();

function track(db: Db): void {
  for (const d of opened) if (!d.open) opened.delete(d);
  opened.add(db);
}

/** Databases opened here and not closed yet (across every store in this process). */
export function openDatabaseCount(): number {
  for (const d of opened) if (!d.open) opened.delete(d);
  return opened.size;
}

function configureCipher(db: Db, cipher: DbCipher): void {
  db.pragma(`cipher = '${cipher}'`);
  const active = db.pragma('cipher', { simple: true });
  if (active !== cipher)
    throw new AppError(ErrorCode.Internal, `cipher ${cipher} not active (got ${String(active)})`);
  for (const param of CIPHER_PARAMS[cipher]) db.pragma(param);
}

/**
 * Passes the key in SQLite3MultipleCiphers' raw hex form `x'<64 hex digits>'`, which bypasses the
 * passphrase KDF. It goes through `sqlite3_key` in a Buffer we wipe, so no SQL text or JS string
 * ever holds the key.
 */
function applyRawKey(db: Db, key: Uint8Array): void {
  const HEX = '0123456789abcdef';
  const buf = Buffer.alloc(3 + key.length * 2);
  buf[0] = 0x78; // x
  buf[1] = 0x27; // '
  for (let i = 0; i < key.length; i++) {
    const b = key[i] ?? 0;
    buf[2 + 2 * i] = HEX.charCodeAt(b >> 4);
    buf[3 + 2 * i] = HEX.charCodeAt(b & 15);
  }
  buf[buf.length - 1] = 0x27;
  try {
    db.key(buf);
  } finally {
    buf.fill(0);
  }
}

/** The first read decrypts page 1; a wrong key fails its authentication (SQLITE_NOTADB). */
function proveKey(db: Db): void {
  try {
    db.prepare('SELECT count(*) FROM sqlite_master').pluck().get();
  } catch (err) {
    if (isSqliteError(err, 'SQLITE_NOTADB'))
      throw new AppError(
        ErrorCode.WrongKey,
        'wrong at-rest key (or the first page of the file is damaged)',
        { cause: err },
      );
    throw mapSqliteError(err, 'open');
  }
}

function configureDurability(db: Db, secureDelete: boolean): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  db.pragma('synchronous = FULL');
  // Sorts and temp tables stay in memory: SQLite temp files would not be encrypted.
  db.pragma('temp_store = MEMORY');
  db.pragma(`secure_delete = ${secureDelete ? 'ON' : 'OFF'}`);
  db.pragma('foreign_keys = ON');
  const journal = db.pragma('journal_mode', { simple: true });
  const sync = db.pragma('synchronous', { simple: true });
  if (mode !== 'wal' || journal !== 'wal')
    throw new AppError(ErrorCode.Internal, `journal_mode is ${String(journal)}, expected wal`);
  if (sync !== 2)
    throw new AppError(ErrorCode.Internal, `synchronous is ${String(sync)}, expected 2 (FULL)`);
}

/** Reads back the durability settings; used by tests and health checks. */
export function durability(db: Db): { journalMode: string; synchronous: number } {
  return {
    journalMode: String(db.pragma('journal_mode', { simple: true })),
    synchronous: Number(db.pragma('synchronous', { simple: true })),
  };
}

/**
 * Applies `migrations[i]` for every i ≥ the file's `PRAGMA user_version`, in one immediate
 * transaction, and sets user_version to migrations.length. A file newer than the code is refused.
 */
export function migrate(db: Db, migrations: readonly string[]): { from: number; to: number } {
  const run = db.transaction(() => {
    const from = Number(db.pragma('user_version', { simple: true }));
    if (from > migrations.length)
      throw new AppError(
        ErrorCode.Config,
        `database schema v${from} is newer than this code (v${migrations.length}); refusing to downgrade`,
      );
    for (let v = from; v < migrations.length; v++) db.exec(migrations[v] ?? '');
    if (from !== migrations.length) db.pragma(`user_version = ${migrations.length}`);
    return { from, to: migrations.length };
  });
  try {
    return run.immediate();
  } catch (err) {
    throw mapSqliteError(err, 'migrate');
  }
}

export type CheckpointMode = 'PASSIVE' | 'FULL' | 'RESTART' | 'TRUNCATE';

/** Copies the WAL into the main file; `busy` is true when a reader kept it from finishing. */
export function checkpoint(
  db: Db,
  mode: CheckpointMode = 'TRUNCATE',
): { busy: boolean; walFrames: number; checkpointed: number } {
  const row = db.pragma(`wal_checkpoint(${mode})`) as
    | [{ busy: number; log: number; checkpointed: number }]
    | [];
  const r = row[0] ?? { busy: 0, log: 0, checkpointed: 0 };
  return { busy: r.busy !== 0, walFrames: r.log, checkpointed: r.checkpointed };
}

/** Reads every page (PRAGMA quick_check); AppError(Corrupt) when any fails. */
export function verifyPages(db: Db): void {
  let result: unknown;
  try {
    result = db.pragma('quick_check', { simple: true });
  } catch (err) {
    throw mapSqliteError(err, 'integrity check');
  }
  if (result !== 'ok')
    throw new AppError(ErrorCode.Corrupt, `integrity check failed: ${String(result).slice(0, 200)}`);
}

/**
 * A lock on a plain (unencrypted, empty) SQLite file in rollback-journal mode, held by SQLite's own
 * file locks: the operating system drops them when the process dies, so a crash never leaves a
 * stale lock. Shared holders coexist (every service process on one data dir); an exclusive holder
 * excludes them all (an offline operator command). `release()` is idempotent.
 */
export interface FileLock {
  release(): void;
}

function openLockFile(path: string, timeoutMs: number): Db {
  const db = new Database(path, { timeout: timeoutMs });
  try {
    if (db.pragma('journal_mode', { simple: true }) !== 'delete') db.pragma('journal_mode = DELETE');
    db.exec('CREATE TABLE IF NOT EXISTS lock (holder TEXT)');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function held(db: Db): FileLock {
  return {
    release() {
      if (db.open) db.close(); // closing ends the open transaction and its lock
    },
  };
}

/** A shared lock on `path`, waiting up to `timeoutMs` for an exclusive holder; undefined when it still holds it. */
export function lockShared(path: string, timeoutMs = 5000): FileLock | undefined {
  let db: Db | undefined;
  try {
    db = openLockFile(path, timeoutMs);
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM lock').get(); // the SHARED lock, kept until the transaction ends
    return held(db);
  } catch (err) {
    db?.close();
    if (isSqliteError(err, 'SQLITE_BUSY')) return undefined;
    throw mapSqliteError(err, 'lock');
  }
}

/** An exclusive lock on `path` at once; undefined while anyone holds it (shared or exclusive). */
export function lockExclusive(path: string): FileLock | undefined {
  let db: Db | undefined;
  try {
    db = openLockFile(path, 0);
    db.exec('BEGIN EXCLUSIVE');
    return held(db);
  } catch (err) {
    db?.close();
    if (isSqliteError(err, 'SQLITE_BUSY')) return undefined;
    throw mapSqliteError(err, 'lock');
  }
}
