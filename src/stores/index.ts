// Opens the encrypted stores under the data dir (design.md "Storage", "Shards"): the shard layout
// (`<data>/shards/<k>/`, each shard's archive, key directory and fence, issue 15), a single-layout
// data dir migrated once, and the shards this process owns seen as one archive and directory
// (sharded.ts). The only module that receives the master key's source; a node keeps the key to
// open the shards it takes over, and wipes it at close.
import { mkdirSync } from 'node:fs';
import { loadMasterKey } from '../archive/index.js';
import type { StoresSlice } from '../config/index.js';
import type { DirectoryStore } from '../directory/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { blake2b, initSodium, wipe } from '../keys/index.js';
import type { ArchiveStore } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import { derivedServerPublicKey, openShardLayout, openShardStores, type FenceState, type Lease, type OpenedShard, type ShardLayout } from '../shards/index.js';
import { hasSingleLayout, migrateSingleLayout } from './migrate.js';
import { createShardedStores, type ShardedStores } from './sharded.js';

export { createShardedStores, type ShardedStores } from './sharded.js';
export { hasSingleLayout, migrateSingleLayout } from './migrate.js';

/** Opens shards of this data root and of the roots a node reaches. */
export interface ShardOpener {
  /** This data root's layout (its count, its root id). */
  readonly layout: ShardLayout;
  /** The key every shard countersigns with; undefined when each keeps its own (migrated). */
  readonly serverPublicKey: Uint8Array | undefined;
  /** Claims the fence of the shard in `dir` for `lease`, then opens its stores. */
  open(shard: number, dir: string, lease: Lease | ((current: FenceState) => Lease)): Promise<OpenedShard>;
  /** A keyed hash of the master key: processes of one deployment must show the same. */
  readonly masterCheck: string;
  /** The request bus's MAC key (issue 15), the same on every process with this master key. */
  busMacKey(): Uint8Array;
  /** Wipes the master key. */
  close(): void;
}

const derive = (label: string, master: Uint8Array, n = 32): Uint8Array => blake2b(n, new TextEncoder().encode(label), master);

export interface OpenerOptions {
  /**
   * A single-layout data dir: `migrate` it (serve, worker), `refuse` it (operator commands), or
   * `ignore` it (an ingest, which reads no user data; a worker on that volume migrates it).
   */
  single: 'migrate' | 'refuse' | 'ignore';
}

export async function openShardOpener(slice: StoresSlice, logger: Logger, options: OpenerOptions): Promise<ShardOpener> {
  const backend = await initSodium(slice.crypto, { wasm: 'lazy' });
  logger.info({ crypto: backend }, 'libsodium backend');
  mkdirSync(slice.dataDir, { recursive: true, mode: 0o700 });
  const master = await loadMasterKey(slice, logger);
  try {
    if (options.single === 'migrate') await migrateSingleLayout({ dataDir: slice.dataDir, masterKey: master, cipher: slice.cipher, count: slice.shardCount, logger });
    else if (options.single === 'refuse' && hasSingleLayout(slice.dataDir))
      throw new AppError(ErrorCode.Config, `${slice.dataDir} holds the single layout of an older version: start \`sealpost serve\` on it once to migrate it to shards`);
    const layout = openShardLayout(slice.dataDir, slice.shardCount);
    const serverPublicKey = layout.storedServerKey ? undefined : derivedServerPublicKey(master);
    return {
      layout,
      serverPublicKey,
      masterCheck: Buffer.from(derive('sealpost/v1/master-check', master, 16)).toString('hex'),
      busMacKey: () => derive('sealpost/v1/request-bus', master),
      open: (shard, dir, lease) =>
        openShardStores({
          shard,
          dir,
          masterKey: master,
          cipher: slice.cipher,
          lease,
          maxOpen: slice.maxOpen,
          retentionSeconds: slice.retentionSeconds,
          storedServerKey: layout.storedServerKey,
          logger,
        }),
      close: () => wipe(master),
    };
  } catch (err) {
    wipe(master);
    throw err;
  }
}

export interface Stores {
  archive: ArchiveStore;
  directory: DirectoryStore;
  sharded: ShardedStores;
  layout: ShardLayout;
  /** Closes every shard and wipes the master key. */
  readonly close: () => void;
}

/**
 * Every shard of the data dir. `own`: `sealpost serve`, the one owner of every shard with no lease
 * store: each shard is created if absent and its fence raised to the next epoch under this root's
 * id, never expiring. `borrow`: an operator command on the host writes under the current owner's
 * epoch (as the owner), opening only the shards present.
 */
export async function openStores(slice: StoresSlice, logger: Logger, how: 'own' | 'borrow'): Promise<Stores> {
  const opener = await openShardOpener(slice, logger, { single: how === 'own' ? 'migrate' : 'refuse' });
  const { layout } = opener;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const k of sharded.owned()) sharded.detach(k)?.close();
    opener.close();
  };
  // Closing either view closes every shard (the operator commands and tests close both).
  const sharded = createShardedStores(layout.count, opener.serverPublicKey, close);
  try {
    const shards = how === 'own' ? Array.from({ length: layout.count }, (_, k) => k) : layout.present();
    for (const k of shards) {
      const lease = (cur: FenceState): Lease =>
        how === 'own'
          ? { shard: k, node: layout.node, epoch: cur.epoch + 1, expiresAt: Number.POSITIVE_INFINITY }
          : { shard: k, node: cur.node, epoch: cur.epoch, expiresAt: Number.POSITIVE_INFINITY };
      const opened = await opener.open(k, layout.dir(k), lease);
      if (!opened.started) throw new AppError(ErrorCode.Unavailable, `shard ${k}: its fence is at epoch ${opened.fenceEpoch}; not opened`);
      sharded.attach(opened.stores);
    }
  } catch (err) {
    close();
    throw err;
  }
  return { archive: sharded.archive, directory: sharded.directory, sharded, layout, close };
}
export { holdDataDir, takeDataDirOffline, LIVE_LOCK_FILE, type FileLock } from './live.js';
export { deploymentKeys, deriveDeploymentKeys, type DeploymentKeys } from './deployment-keys.js';
