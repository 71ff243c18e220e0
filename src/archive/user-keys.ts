// The wrapped user keys (keyring.db on disk; not the agent's key ring in src/keys): each user's
// random 32-byte archive key, wrapped (XChaCha20-Poly1305) by a subkey of the master key with
// aad = label ‖ len ‖ normalised JID, in a database itself encrypted at rest. Crypto-shredding
// (design.md "Storage") starts here: erasing the row makes the user's file noise.
import { AppError, ErrorCode } from '../errors/index.js';
import { aeadOpen, aeadSeal, AEAD_KEY_BYTES, randomBytes } from '../keys/index.js';
import {
  checkpoint,
  DEFAULT_BUSY_TIMEOUT_MS,
  mapSqliteError,
  migrate,
  openEncryptedDb,
  type Db,
  type DbCipher,
  type Statement,
} from '../sqlite/index.js';
import { KEYRING_MIGRATIONS } from './schema.js';

const WRAP_LABEL = 'sealpost/v1/user-key';

function wrapAad(jid: string): Uint8Array {
  const label = new TextEncoder().encode(WRAP_LABEL);
  const id = new TextEncoder().encode(jid);
  const out = new Uint8Array(label.length + 4 + id.length);
  out.set(label, 0);
  new DataView(out.buffer).setUint32(label.length, id.length, false);
  out.set(id, label.length + 4);
  return out;
}

export interface UserRef {
  userHash: string;
  jid: string;
  createdAt: number;
}

export interface UserKey {
  /** The plaintext per-user key; the caller wipes it after opening the file. */
  key: Uint8Array;
  /** True when this call generated the key (a new user, or one shredded before). */
  created: boolean;
  /** Names this key among the user's keys over time (its wrap nonce): a shred and a new key change it. */
  tag: string;
}

/** The wrap nonce of a wrapped key, hex: unique per key, and no secret. */
const tagOf = (wrapped: Uint8Array): string => Buffer.from(wrapped.subarray(0, 24)).toString('hex');

export class UserKeys {
  private version: Statement | undefined;

  private constructor(
    private readonly db: Db,
    private readonly wrapKey: Uint8Array,
  ) {}

  /** `openBusyTimeoutMs`: the lock wait while opening and migrating; later writes wait the usual time. */
  static open(path: string, keyringKey: Uint8Array, wrapKey: Uint8Array, cipher: DbCipher, openBusyTimeoutMs?: number): UserKeys {
    const db = openEncryptedDb({ path, key: keyringKey, cipher, ...(openBusyTimeoutMs === undefined ? {} : { busyTimeoutMs: openBusyTimeoutMs }) });
    try {
      migrate(db, KEYRING_MIGRATIONS);
      if (openBusyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${DEFAULT_BUSY_TIMEOUT_MS}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new UserKeys(db, wrapKey);
  }

  /** Unwraps the user's key; with `create`, generates and stores one first when there is none. */
  userKey(userHash: string, jid: string, create: boolean, now: number): UserKey | undefined {
    try {
      let created = false;
      if (create && !this.has(userHash)) {
        const fresh = randomBytes(AEAD_KEY_BYTES);
        const wrapped = aeadSeal(this.wrapKey, fresh, wrapAad(jid));
        fresh.fill(0);
        const r = this.db
          .prepare(
            `INSERT INTO user_key (user_hash, jid, wrapped_key, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (user_hash) DO NOTHING`,
          )
          .run(userHash, jid, wrapped, now);
        created = r.changes === 1;
      }
      const row = this.db
        .prepare('SELECT jid, wrapped_key FROM user_key WHERE user_hash = ?')
        .get(userHash) as { jid: string; wrapped_key: Uint8Array } | undefined;
      if (row === undefined) return undefined;
      if (row.jid !== jid)
        throw new AppError(ErrorCode.Corrupt, 'keyring entry belongs to another JID (hash collision?)');
      const key = aeadOpen(this.wrapKey, row.wrapped_key, wrapAad(jid));
      if (key === undefined)
        throw new AppError(ErrorCode.Corrupt, 'wrapped user key does not authenticate under the master key');
      return { key, created, tag: tagOf(row.wrapped_key) };
    } catch (err) {
      throw mapSqliteError(err, 'keyring');
    }
  }

  has(userHash: string): boolean {
    return this.db.prepare('SELECT 1 FROM user_key WHERE user_hash = ?').get(userHash) !== undefined;
  }

  /** The tag of the user's current key; undefined when it has none (never made, or shredded). */
  currentTag(userHash: string): string | undefined {
    const row = this.db.prepare('SELECT wrapped_key FROM user_key WHERE user_hash = ?').pluck().get(userHash) as Uint8Array | undefined;
    return row === undefined ? undefined : tagOf(row);
  }

  /**
   * Changes when another connection (another process on this data dir) committed to the keyring:
   * a user was added or shredded there, so an open archive's key may be gone (PRAGMA data_version).
   */
  dataVersion(): number {
    this.version ??= this.db.prepare('PRAGMA data_version').pluck();
    return this.version.get() as number;
  }

  /**
   * Erases the wrapped key (secure_delete overwrites it in the page) and runs `alsoRemove` (the
   * user's files) inside the same write transaction: nobody makes the user a new key and file
   * until the old files are gone. Then checkpoints with TRUNCATE so no WAL frame keeps the old
   * page. Returns whether a key existed, what `alsoRemove` returned and whether the checkpoint
   * completed (false when another connection's reader held it back).
   */
  erase(userHash: string, alsoRemove: () => number = () => 0): { existed: boolean; removed: number; checkpointed: boolean } {
    try {
      const { existed, removed } = this.db
        .transaction(() => {
          const r = this.db.prepare('DELETE FROM user_key WHERE user_hash = ?').run(userHash);
          return { existed: r.changes > 0, removed: alsoRemove() };
        })
        .immediate();
      const cp = checkpoint(this.db, 'TRUNCATE');
      return { existed, removed, checkpointed: !cp.busy };
    } catch (err) {
      throw mapSqliteError(err, 'keyring erase');
    }
  }

  /** Users in hash order, `limit` at a time after `after` (for retention sweeps). */
  list(after: string, limit: number): UserRef[] {
    const rows = this.db
      .prepare(
        'SELECT user_hash, jid, created_at FROM user_key WHERE user_hash > ? ORDER BY user_hash LIMIT ?',
      )
      .all(after, limit) as { user_hash: string; jid: string; created_at: number }[];
    return rows.map((r) => ({ userHash: r.user_hash, jid: r.jid, createdAt: r.created_at }));
  }

  close(): void {
    if (this.db.open) this.db.close();
    this.wrapKey.fill(0);
  }
}
