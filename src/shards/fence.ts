// The fencing epoch of one shard (issue 15, design.md "Owners"): stored in the shard's own SQLite
// file (`<shard>/fence.db`) and checked inside an immediate transaction around every write, so a
// node whose lease ended (a pause, a partition) cannot write once a new owner raised the epoch:
// the new owner's claim waits for a write in progress, and every later write of the old one fails.
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { mapSqliteError, migrate, openEncryptedDb, type Db, type DbCipher } from '../sqlite/index.js';

const MIGRATIONS = [
  `CREATE TABLE fence (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL, node TEXT NOT NULL);
   INSERT INTO fence (id, epoch, node) VALUES (1, 0, '');`,
  // The shard's write log: per epoch, who claimed it when, and its first and last fenced write.
  `CREATE TABLE writes (epoch INTEGER PRIMARY KEY, node TEXT NOT NULL, claimed_at INTEGER NOT NULL,
     first_at INTEGER, last_at INTEGER, count INTEGER NOT NULL DEFAULT 0);`,
];

/** What a node holds of one shard; `expiresAt` (local clock) is moved on by each renewal. */
export interface Lease {
  readonly shard: number;
  readonly node: string;
  readonly epoch: number;
  expiresAt: number;
}

export interface FenceState {
  epoch: number;
  node: string;
}

/** One epoch of the shard's write log (wall-clock ms of the writing node). */
export interface EpochWrites {
  epoch: number;
  node: string;
  claimedAt: number;
  firstAt: number | null;
  lastAt: number | null;
  count: number;
}

export interface ShardFence {
  readonly shard: number;
  current(): FenceState;
  /**
   * Every epoch claimed, oldest first, with its fenced writes: a write is logged in the fence's
   * transaction after the shard's own SQLite work committed, so a node killed in between leaves
   * that one write out of the count (never a write of another epoch in).
   */
  history(): EpochWrites[];
  /**
   * Records `lease` as the shard's writer. False (nothing changed) when the shard already saw a
   * higher epoch, or this epoch for another node: that lease is stale.
   */
  claim(lease: Lease): boolean;
  /**
   * Runs `fn` (synchronous SQLite work on the shard) while holding the fence: refuses with
   * AppError(Unavailable) when the lease has expired on the local clock or the stored epoch is
   * not the lease's.
   */
  write<T>(lease: Lease, fn: () => T): T;
  /**
   * Throws what `write` would throw for `lease` (expired, superseded) without taking the fence's
   * lock: a cheap early refusal before work that ends in a fenced write (an upload's body).
   */
  check(lease: Lease): void;
  close(): void;
}

export interface OpenFenceOptions {
  shard: number;
  dir: string;
  key: Uint8Array;
  cipher: DbCipher;
  now?: () => number;
  /**
   * How long a claim or write waits for the fence's lock (default 50 ms). Short: better-sqlite3
   * waits synchronously, and a node stopped inside a write keeps the lock until it wakes or dies;
   * the claimer must not freeze its event loop (and its other leases' renewals) meanwhile.
   */
  busyTimeoutMs?: number;
}

export function openShardFence(options: OpenFenceOptions): ShardFence {
  const now = options.now ?? Date.now;
  const { shard } = options;
  const db: Db = openEncryptedDb({ path: join(options.dir, 'fence.db'), key: options.key, cipher: options.cipher, busyTimeoutMs: options.busyTimeoutMs ?? 50 });
  try {
    migrate(db, MIGRATIONS);
    // A write's commit here only counts it in the write log: not fsynced (WAL, synchronous=NORMAL:
    // kept through a crash of the process, not always through a power cut, and only the count can
    // be short). It was the second fsync of every archive write (issue 16). A claim, which raises
    // the epoch, is still fsynced before it returns (claim below).
    db.pragma('synchronous = NORMAL');
  } catch (err) {
    db.close();
    throw err;
  }
  const read = db.prepare<[], FenceState>('SELECT epoch, node FROM fence WHERE id = 1');
  const set = db.prepare<[number, string]>('UPDATE fence SET epoch = ?, node = ? WHERE id = 1');
  const state = (): FenceState => read.get() ?? { epoch: 0, node: '' };
  const claimed = db.prepare<[number, string, number]>('INSERT OR IGNORE INTO writes (epoch, node, claimed_at) VALUES (?, ?, ?)');
  const wrote = db.prepare<[number, number, number]>('UPDATE writes SET count = count + 1, first_at = coalesce(first_at, ?), last_at = ? WHERE epoch = ?');
  const log = db.prepare<[], EpochWrites>(
    'SELECT epoch, node, claimed_at AS claimedAt, first_at AS firstAt, last_at AS lastAt, count FROM writes ORDER BY epoch',
  );

  const claim = db.transaction((lease: Lease): boolean => {
    const s = state();
    if (s.epoch > lease.epoch || (s.epoch === lease.epoch && s.node !== lease.node)) return false;
    if (s.epoch !== lease.epoch) set.run(lease.epoch, lease.node);
    claimed.run(lease.epoch, lease.node, Date.now());
    return true;
  });

  const fenced = (lease: Lease, why: string): AppError =>
    new AppError(ErrorCode.Unavailable, `shard ${shard}: not written (${why}); its owner will do it`);

  return {
    shard,
    current: state,
    history: () => log.all(),
    claim(lease) {
      if (lease.shard !== shard) throw new RangeError(`claim: lease of shard ${lease.shard} on shard ${shard}`);
      db.pragma('synchronous = FULL');
      try {
        return claim.immediate(lease);
      } catch (err) {
        throw mapSqliteError(err, 'fence claim');
      } finally {
        db.pragma('synchronous = NORMAL');
      }
    },
    check(lease) {
      if (now() >= lease.expiresAt) throw fenced(lease, 'lease expired');
      const s = state();
      if (s.epoch !== lease.epoch || s.node !== lease.node) throw fenced(lease, `epoch ${lease.epoch} superseded by ${s.epoch}`);
    },
    write<T>(lease: Lease, fn: () => T): T {
      if (lease.shard !== shard) throw new RangeError(`write: lease of shard ${lease.shard} on shard ${shard}`);
      if (now() >= lease.expiresAt) throw fenced(lease, 'lease expired');
      const guarded = db.transaction(() => {
        const s = state();
        if (s.epoch !== lease.epoch || s.node !== lease.node) throw fenced(lease, `epoch ${lease.epoch} superseded by ${s.epoch}`);
        const out = fn();
        const t = Date.now();
        // A fence claimed before the log existed (an older version) gets its epoch's row now.
        claimed.run(lease.epoch, lease.node, t);
        wrote.run(t, t, lease.epoch);
        return out;
      });
      return guarded.immediate();
    },
    close: () => db.close(),
  };
}
