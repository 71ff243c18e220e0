// One shard's stores (issue 15, design.md "Shards"): everything of the users mapped to shard k in
// `<data>/shards/<k>/` (archive files and keyring, the key directory, the fence), every write going
// through the shard's fence under the node's lease. Keys come from the master key, so any node
// holding the shard's directory opens it; the directory's server key too, so every shard on every
// node countersigns with one key that agents pin once.
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createArchiveStore, deriveArchiveSubkeys, type ArchiveCipher, type ArchiveStore, type BlobStore } from '../archive/index.js';
import { openDirectoryStore, type DirectoryStore } from '../directory/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { blake2b, ed25519KeyPairFromSeed, wipe } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { isSqliteError, openEncryptedDb } from '../sqlite/index.js';
import { openShardFence, type EpochWrites, type FenceState, type Lease, type ShardFence } from './fence.js';

/** ArchiveStore methods that write; everything else only reads (a unit test holds the split). */
export const ARCHIVE_WRITES = [
  'storeIncoming', 'storeIncomingMany', 'storeOutgoing', 'storeOutgoingMany', 'markAttempted', 'markDelivered',
  'markDeliveredMany', 'deleteItems', 'setRetention', 'purgeExpired', 'expireTransit', 'checkpoint', 'vacuum', 'shredUser',
] as const satisfies readonly (keyof ArchiveStore)[];
export const ARCHIVE_READS = [
  'userHash', 'userPath', 'pendingFor', 'holdsMessage', 'deliveryState', 'pendingCounts', 'quotaUsage', 'query', 'getRetention',
  'spaceStats', 'verify', 'auditRows', 'listUsers', 'hasUser', 'openCount', 'limits', 'close',
] as const satisfies readonly (keyof ArchiveStore)[];
/** Uploaded file blobs (issue 17): files beside the archive, handed out as a fenced view (BLOB_WRITES). */
export const ARCHIVE_VIEWS = ['blobs'] as const satisfies readonly (keyof ArchiveStore)[];
/** BlobStore methods that write files or records: each runs inside the shard's fence. */
export const BLOB_WRITES = ['create', 'write', 'remove', 'removeUser'] as const satisfies readonly (keyof BlobStore)[];
export const BLOB_READS = ['dataPath', 'read', 'list', 'users', 'announcedBytes', 'storedBytes', 'close'] as const satisfies readonly (keyof BlobStore)[];
export const DIRECTORY_WRITES = ['publish', 'claim', 'remove', 'eraseExpired'] as const satisfies readonly (keyof DirectoryStore)[];
export const DIRECTORY_READS = ['serverPublicKey', 'published', 'count', 'devices', 'hasArchiveKey', 'identityKey', 'close'] as const satisfies readonly (keyof DirectoryStore)[];

const LABELS = {
  directoryDb: 'sealpost/v1/directory-db',
  serverKey: 'sealpost/v1/directory-server-key',
  fence: 'sealpost/v1/shard-fence',
} as const;

const derive = (label: string, master: Uint8Array): Uint8Array => blake2b(32, new TextEncoder().encode(label), master);

/** The at-rest key of a directory file (shard or single layout), from the master key; wipe it after use. */
export const directoryDbKey = (master: Uint8Array): Uint8Array => derive(LABELS.directoryDb, master);

/** The public server key every shard's directory countersigns with (derived from the master key). */
export function derivedServerPublicKey(master: Uint8Array): Uint8Array {
  const seed = derive(LABELS.serverKey, master);
  try {
    return ed25519KeyPairFromSeed(seed).publicKey;
  } finally {
    wipe(seed);
  }
}

/**
 * A view of `target` whose `writes` run inside `guard` (the fence's immediate transaction);
 * reads pass straight through.
 */
export function fenceWrites<T extends object>(target: T, writes: readonly (keyof T)[], guard: <R>(fn: () => R) => R, extra: Record<PropertyKey, unknown> = {}): T {
  const guarded = new Set<PropertyKey>(writes);
  return new Proxy(target, {
    get(t, name, receiver) {
      if (Object.hasOwn(extra, name)) return extra[name];
      const value: unknown = Reflect.get(t, name, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return guarded.has(name) ? (...args: unknown[]) => guard(() => fn.apply(t, args)) : fn.bind(t);
    },
  });
}

/**
 * What a shard's blob store adds to BlobStore (issue 15): blobs are files, written outside SQLite,
 * so an upload's file work and its record go in one fenced step, and it can be refused early.
 * `hash` names the user (it routes to the user's shard in a store of several shards).
 */
export interface BlobFence {
  /** Runs `fn` (synchronous file work and record writes) inside the shard's fence. */
  underFence<R>(hash: string, fn: () => R): R;
  /** Throws AppError(Unavailable) when the fence would refuse a write now (lease gone). */
  checkFence(hash: string): void;
}

/** The blob store's fence when it has one (a shard's); a plain archive's blobs have none. */
export function blobFenceOf(blobs: BlobStore): BlobFence | undefined {
  const f = blobs as BlobStore & Partial<BlobFence>;
  return typeof f.underFence === 'function' && typeof f.checkFence === 'function' ? (f as BlobFence) : undefined;
}

export interface ShardStores {
  readonly shard: number;
  readonly archive: ArchiveStore;
  readonly directory: DirectoryStore;
  readonly fence: ShardFence;
  /** The lease its writes are fenced with. */
  readonly lease: Lease;
  close(): void;
}

export interface OpenShardStoresOptions {
  shard: number;
  /** `<data>/shards/<k>` */
  dir: string;
  masterKey: Uint8Array;
  cipher: ArchiveCipher;
  /**
   * The node's lease on the shard (live: renewals move its expiry); checked on every write. A
   * function makes it from the fence's current state: `sealpost serve` takes the next epoch with
   * no lease store, an operator command on the host writes under the owner's current one.
   */
  lease: Lease | ((current: FenceState) => Lease);
  maxOpen?: number;
  retentionSeconds?: number;
  /** Countersign with the server key kept in the shard's directory file (a migrated install), not the derived one. */
  storedServerKey?: boolean;
  /**
   * How long opening waits, without blocking the event loop, for another process's write lock on
   * the shard's databases (a node stopped inside a write) before AppError(Unavailable); default
   * 5 s, at most a third of the lease's remaining time (its renewals must not wait behind it).
   */
  lockWaitMs?: number;
  /** Runs after the lock check, before the databases are opened (tests take a lock in that window). */
  afterLockCheck?: () => Promise<void>;
  logger: Logger;
  now?: () => number;
}

/** What opening a shard gave: its stores, or the higher epoch its fence already holds. */
export type OpenedShard = { started: true; stores: ShardStores } | { started: false; fenceEpoch: number };

/** True when another connection holds the database's write lock (tried once, busy_timeout 0). */
function writeLocked(path: string, key: Uint8Array, cipher: ArchiveCipher): boolean {
  let db: ReturnType<typeof openEncryptedDb> | undefined;
  try {
    db = openEncryptedDb({ path, key, cipher, busyTimeoutMs: 0, mustExist: true });
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return false;
  } catch (err) {
    if (AppError.is(err, ErrorCode.NotFound)) return false;
    if (AppError.is(err, ErrorCode.Unavailable) || isSqliteError(err, 'SQLITE_BUSY')) return true;
    throw err;
  } finally {
    db?.close();
  }
}

/**
 * Waits, yielding to the event loop between tries, until no other process holds a write lock on
 * the shard's databases. better-sqlite3 waits for a lock synchronously (busy_timeout), so opening
 * a shard that a node stopped inside a write still holds would freeze this process for the
 * timeout of each file (5 s), with every other lease's renewal behind it.
 */
async function waitForWriteLocks(shard: number, files: { path: string; key: Uint8Array }[], cipher: ArchiveCipher, boundMs: number): Promise<void> {
  const until = Date.now() + boundMs;
  let wait = 10;
  for (;;) {
    const held = files.find((f) => existsSync(f.path) && writeLocked(f.path, f.key, cipher));
    if (held === undefined) return;
    const left = until - Date.now();
    if (left <= 0)
      throw new AppError(ErrorCode.Unavailable, `shard ${shard}: ${basename(held.path)} is write-locked by another process (a node stopped inside a write?); tried for ${boundMs} ms`);
    await sleep(Math.min(wait, left));
    wait = Math.min(wait * 2, 200);
  }
}

const isBusy = (err: unknown): boolean => AppError.is(err, ErrorCode.Unavailable) || isSqliteError(err, 'SQLITE_BUSY');

/**
 * Opens with a lock wait of 0 (`open` passes it on), tried again without blocking until `until`:
 * a lock another process took after waitForWriteLocks looked would otherwise block the event loop
 * for the 5 s busy timeout.
 */
async function openUnblocked<T>(shard: number, what: string, until: number, open: () => Promise<T> | T): Promise<T> {
  let wait = 10;
  for (;;) {
    try {
      return await open();
    } catch (err) {
      const left = until - Date.now();
      if (!isBusy(err)) throw err;
      if (left <= 0) throw new AppError(ErrorCode.Unavailable, `shard ${shard}: ${what} is write-locked by another process (a node stopped inside a write?)`, { cause: err });
      await sleep(Math.min(wait, left));
      wait = Math.min(wait * 2, 200);
    }
  }
}

/**
 * Claims shard k's fence for `lease` first (a stale lease opens nothing; a shard whose databases
 * another process holds locked is waited for without blocking, then fails with Unavailable: retry
 * later), then opens its stores.
 */
export async function openShardStores(o: OpenShardStoresOptions): Promise<OpenedShard> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const fenceKey = derive(LABELS.fence, o.masterKey);
  const dbKey = derive(LABELS.directoryDb, o.masterKey);
  const seed = derive(LABELS.serverKey, o.masterKey);
  const sub = deriveArchiveSubkeys(o.masterKey);
  const opened: { close(): void }[] = [];
  try {
    const remaining = typeof o.lease === 'function' ? Number.POSITIVE_INFINITY : o.lease.expiresAt - (o.now ?? Date.now)();
    const boundMs = Math.max(0, Math.min(o.lockWaitMs ?? 5_000, remaining / 3));
    const files = [
      { path: join(o.dir, 'fence.db'), key: fenceKey },
      { path: join(o.dir, 'directory.db'), key: dbKey },
      { path: join(o.dir, 'archive', 'keyring.db'), key: sub.keyring },
    ];
    const until = Date.now() + boundMs;
    await waitForWriteLocks(o.shard, files, o.cipher, boundMs);
    await o.afterLockCheck?.();
    const fence = openShardFence({ shard: o.shard, dir: o.dir, key: fenceKey, cipher: o.cipher, ...(o.now === undefined ? {} : { now: o.now }) });
    opened.push(fence);
    const lease = typeof o.lease === 'function' ? o.lease(fence.current()) : o.lease;
    if (!fence.claim(lease)) {
      const fenceEpoch = fence.current().epoch;
      fence.close();
      return { started: false, fenceEpoch };
    }
    const archive = await openUnblocked(o.shard, 'archive/keyring.db', until, () =>
      createArchiveStore({
        dir: join(o.dir, 'archive'),
        masterKey: o.masterKey,
        cipher: o.cipher,
        logger: o.logger.child({ shard: o.shard }),
        openBusyTimeoutMs: 0,
        ...(o.maxOpen === undefined ? {} : { maxOpen: o.maxOpen }),
        ...(o.retentionSeconds === undefined ? {} : { retentionSeconds: o.retentionSeconds }),
        ...(o.now === undefined ? {} : { now: o.now }),
      }),
    );
    opened.push(archive);
    const serverKey = o.storedServerKey === true ? {} : { serverKey: ed25519KeyPairFromSeed(seed) };
    const directory = await openUnblocked(o.shard, 'directory.db', until, () =>
      openDirectoryStore({ path: join(o.dir, 'directory.db'), key: dbKey, cipher: o.cipher, openBusyTimeoutMs: 0, ...serverKey }),
    );
    opened.push(directory);
    // Re-entrant: a fenced blob step writes the blob's record through the fenced view.
    let depth = 0;
    const guard = <R>(fn: () => R): R =>
      depth > 0
        ? fn()
        : fence.write(lease, () => {
            depth++;
            try {
              return fn();
            } finally {
              depth--;
            }
          });
    const fencing: BlobFence = { underFence: (_hash, fn) => guard(fn), checkFence: () => fence.check(lease) };
    const blobs = fenceWrites(archive.blobs, BLOB_WRITES, guard, { ...fencing });
    const stores: ShardStores = {
      shard: o.shard,
      archive: fenceWrites(archive, ARCHIVE_WRITES, guard, { blobs }),
      directory: fenceWrites(directory, DIRECTORY_WRITES, guard),
      fence,
      lease,
      close: () => {
        for (const s of opened.reverse()) s.close();
      },
    };
    return { started: true, stores };
  } catch (err) {
    for (const s of opened.reverse()) s.close();
    throw err;
  } finally {
    wipe(fenceKey);
    wipe(dbKey);
    wipe(seed);
    wipe(sub.keyring);
    wipe(sub.names);
    wipe(sub.wrap);
  }
}

/** Shard k's write log (its fence's epochs and their writes), read from its directory after the fact. */
export function shardWriteLog(o: { shard: number; dir: string; masterKey: Uint8Array; cipher: ArchiveCipher }): EpochWrites[] {
  const key = derive(LABELS.fence, o.masterKey);
  try {
    const fence = openShardFence({ shard: o.shard, dir: o.dir, key, cipher: o.cipher });
    try {
      return fence.history();
    } finally {
      fence.close();
    }
  } finally {
    wipe(key);
  }
}
