// One shard's stores (issue 15, design.md "Shards"): everything of the users mapped to shard k in
// `<data>/shards/<k>/` (archive files and keyring, the key directory, the fence), every write going
// through the shard's fence under the node's lease. Keys come from the master key, so any node
// holding the shard's directory opens it; the directory's server key too, so every shard on every
// node countersigns with one key that agents pin once.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createArchiveStore, type ArchiveCipher, type ArchiveStore } from '../archive/index.js';
import { openDirectoryStore, type DirectoryStore } from '../directory/index.js';
import { blake2b, ed25519KeyPairFromSeed, wipe } from '../keys/index.js';
import type { Logger } from '../log/index.js';
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
/** Uploaded file blobs (issue 17) are files beside the archive, written outside SQLite: not fenced yet. */
export const ARCHIVE_UNFENCED = ['blobs'] as const satisfies readonly (keyof ArchiveStore)[];
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
export function fenceWrites<T extends object>(target: T, writes: readonly (keyof T)[], guard: <R>(fn: () => R) => R): T {
  const guarded = new Set<PropertyKey>(writes);
  return new Proxy(target, {
    get(t, name, receiver) {
      const value: unknown = Reflect.get(t, name, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return guarded.has(name) ? (...args: unknown[]) => guard(() => fn.apply(t, args)) : fn.bind(t);
    },
  });
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
  logger: Logger;
  now?: () => number;
}

/** What opening a shard gave: its stores, or the higher epoch its fence already holds. */
export type OpenedShard = { started: true; stores: ShardStores } | { started: false; fenceEpoch: number };

/**
 * Claims shard k's fence for `lease` first (a stale lease opens nothing; a fence still locked by a
 * node stopped inside a write fails with Unavailable at once: retry later), then opens its stores.
 */
export async function openShardStores(o: OpenShardStoresOptions): Promise<OpenedShard> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const fenceKey = derive(LABELS.fence, o.masterKey);
  const dbKey = derive(LABELS.directoryDb, o.masterKey);
  const seed = derive(LABELS.serverKey, o.masterKey);
  const opened: { close(): void }[] = [];
  try {
    const fence = openShardFence({ shard: o.shard, dir: o.dir, key: fenceKey, cipher: o.cipher, ...(o.now === undefined ? {} : { now: o.now }) });
    opened.push(fence);
    const lease = typeof o.lease === 'function' ? o.lease(fence.current()) : o.lease;
    if (!fence.claim(lease)) {
      const fenceEpoch = fence.current().epoch;
      fence.close();
      return { started: false, fenceEpoch };
    }
    const archive = await createArchiveStore({
      dir: join(o.dir, 'archive'),
      masterKey: o.masterKey,
      cipher: o.cipher,
      logger: o.logger.child({ shard: o.shard }),
      ...(o.maxOpen === undefined ? {} : { maxOpen: o.maxOpen }),
      ...(o.retentionSeconds === undefined ? {} : { retentionSeconds: o.retentionSeconds }),
      ...(o.now === undefined ? {} : { now: o.now }),
    });
    opened.push(archive);
    const serverKey = o.storedServerKey === true ? {} : { serverKey: ed25519KeyPairFromSeed(seed) };
    const directory = openDirectoryStore({ path: join(o.dir, 'directory.db'), key: dbKey, cipher: o.cipher, ...serverKey });
    opened.push(directory);
    const guard = <R>(fn: () => R): R => fence.write(lease, fn);
    const stores: ShardStores = {
      shard: o.shard,
      archive: fenceWrites(archive, ARCHIVE_WRITES, guard),
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
