// A worker node (`sealpost worker`, issue 15; README "Scaling out"): an owner loop over Redis
// leases takes the shards whose directories this node reaches (roots.ts); for each it owns, the
// shard host runs the shard's store and delivery workers and answers its requests on the bus:
// routed IQs (MAM, directory, deletes, preferences) with the handlers a single process registers,
// forwarded presence, routed upload slot requests, and the shard's retention sweep; its upload
// listener serves the blobs of the shards it owns to the ingest's front. A lost lease stops all of
// that at once.
import type { DirectorySlice, MamSlice, StoreQuotaSlice, UploadSlice } from '../config/index.js';
import { registerDirectory } from '../directory/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { answerPresence, deviceAnnouncements, iqOwner, isForwardedPresence, isForwardedReceipts, leaseGuard, recordReceipts, registerMam } from '../ingest/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { createOwnerLoop, nodeRegistry, redisLeaseStore, shardOf, startAnnouncing, type LeaseRedis } from '../shards/index.js';
import { registerUpload, type UploadService } from '../upload/index.js';
import type { ShardedStores, ShardOpener } from '../stores/index.js';
import { DECLINED, type Delivery, type Redis, type RequestBus, type StoreShards } from '../workers/index.js';
import type { XmppConnection } from '../xmpp/index.js';
import { createShardHost, type ShardHostOptions } from './host.js';
import { nodeRoots } from './roots.js';
import { isSweepRequest, sweepShard, type SweepDeps } from './sweep.js';

export interface WorkerNodeOptions {
  node: string;
  opener: ShardOpener;
  sharded: ShardedStores;
  mirrored: ShardHostOptions['mirrored'];
  usage: ShardHostOptions['usage'];
  /** Reachable data roots, own first. */
  roots: readonly string[];
  ttlMs: number;
  producer: Redis & LeaseRedis;
  worker: Redis;
  prefix: string;
  /** The key of the hashes naming users in Redis keys (rate limits). */
  redisNameKey: Uint8Array;
  /** The node registry's MAC key (stores' deploymentKeys().nodeRegistry). */
  registryKey: Uint8Array;
  bus: RequestBus;
  conn: XmppConnection;
  quota: StoreQuotaSlice;
  directory: DirectorySlice;
  mam: MamSlice;
  /** The node's upload listener (blobs of its shards) and slot limits. */
  upload: UploadSlice;
  delivery: Delivery;
  store: Pick<StoreShards, 'for'>;
  /** The retention sweep's dependencies (notices, clock) for the shards swept here. */
  sweep: SweepDeps;
  logger: Logger;
  metrics: Metrics;
}

export interface WorkerNode {
  owned(): number[];
  close(): Promise<void>;
}

export async function startWorkerNode(o: WorkerNodeOptions): Promise<WorkerNode> {
  const log = o.logger.child({ module: 'node', node: o.node });
  const owner = iqOwner(o.conn);
  registerMam({ conn: owner.conn, archive: o.mirrored(o.sharded.archive), limits: o.sharded.archive.limits, ...o.mam, redis: o.producer, prefix: o.prefix, redisNameKey: o.redisNameKey, logger: o.logger });
  registerDirectory({ conn: owner.conn, store: o.sharded.directory, redis: o.producer, prefix: o.prefix, redisNameKey: o.redisNameKey, ...o.directory, logger: o.logger, metrics: o.metrics });
  // Slot requests come routed from the ingest with its front's URL; the blobs are served here.
  const upload = await registerUpload({
    ...o.upload,
    conn: owner.conn,
    archive: o.mirrored(o.sharded.archive),
    shardOf: (jid) => shardOf(jid, o.sharded.count),
    slotBase: () => owner.routed()?.base,
    logger: o.logger,
  });
  try {
    return await runNode(o, owner, upload, log);
  } catch (err) {
    await upload.close();
    throw err;
  }
}

async function runNode(o: WorkerNodeOptions, owner: ReturnType<typeof iqOwner>, upload: UploadService, log: Logger): Promise<WorkerNode> {
  // A forwarded presence is applied only while this node holds the user's shard: woken from a
  // pause past its lease, it has heard (and buffered) presences the next owner applied already.
  const holdsShard = (shard: number): boolean => {
    const lease = loop.lease(shard);
    return lease !== undefined && Date.now() < lease.expiresAt;
  };
  const holds = (jid: string): boolean => holdsShard(shardOf(jid, o.sharded.count));
  const presence = deviceAnnouncements(leaseGuard({ keys: o.sharded.directory, registry: o.delivery.registry, listener: o.delivery, logger: o.logger }, holds));
  const answer = (shard: number, p: unknown): Promise<unknown> => {
    // Past its lease (woken from a pause; the owner loop has not stopped the shard yet) the node
    // stays silent: the next owner answers, and this node's stale answer or fenced refusal cannot
    // reach the requester first (a prekey claimed there would have been reported as failed).
    if (!holdsShard(shard)) return Promise.resolve(DECLINED);
    if (isForwardedPresence(p)) return answerPresence(p, presence, o.conn, log);
    // A receipt that reached another process (the node that sent the copy lost the shard since).
    if (isForwardedReceipts(p)) return recordReceipts(p, o.delivery);
    if (isSweepRequest(p)) return sweepShard(o.sharded, shard, { ...o.sweep, now: () => p.now });
    if (typeof p === 'object' && p !== null && 'kind' in p) return Promise.reject(new AppError(ErrorCode.BadInput, 'unknown request kind'));
    return owner.answer(p);
  };
  const registry = nodeRegistry(o.producer, o.prefix, o.registryKey);
  const roots = nodeRoots({ redis: o.producer, prefix: o.prefix, registry, node: o.node, count: o.sharded.count, roots: o.roots, ownRootId: o.opener.layout.node, ttlMs: o.ttlMs });
  const host = createShardHost({
    opener: o.opener,
    sharded: o.sharded,
    mirrored: o.mirrored,
    usage: o.usage,
    dirOf: (k) => roots.dirOf(k),
    connection: o.worker,
    prefix: o.prefix,
    conn: o.conn,
    quota: o.quota,
    delivery: o.delivery,
    store: o.store,
    bus: { bus: o.bus, answer },
    logger: o.logger,
    metrics: o.metrics,
  });
  const loop = createOwnerLoop({
    node: o.node,
    leases: redisLeaseStore(o.producer, o.prefix),
    ttlMs: o.ttlMs,
    candidates: () => roots.candidates(),
    start: (lease) => host.start(lease.shard, lease),
    stop: (shard) => host.stop(shard),
    logger: o.logger,
  });
  let closed = false;
  let round: Promise<void> | undefined;
  const tick = (): Promise<void> =>
    (round ??= (async () => {
      try {
        await roots.refresh();
        if (!closed) await loop.tick();
      } catch (err) {
        log.warn({ error: (err as Error).message }, 'owner round failed');
      } finally {
        round = undefined;
      }
    })());
  // The node registry: `sealpost shard list` and `shard move` read what each node reaches and
  // holds, the nodes place new shards among the live ones, the ingest's front finds the listener.
  const announcer = startAnnouncing({
    registry,
    node: o.node,
    count: o.sharded.count,
    ttlMs: o.ttlMs,
    roots: () => roots.records(),
    held: () => host.running(),
    upload: upload.publicUrl,
    onError: (err) => log.warn({ error: err.message }, 'node not announced'),
  });
  await announcer.announce().catch(() => undefined);
  await tick();
  await announcer.announce().catch(() => undefined);
  const timer = setInterval(() => void tick(), Math.max(50, Math.floor(o.ttlMs / 3)));
  log.info({ roots: o.roots, shards: host.running().length }, 'worker node running');
  return {
    owned: () => host.running(),
    async close() {
      closed = true;
      clearInterval(timer);
      await announcer.stop();
      await round;
      await loop.close();
      await host.close();
      await upload.close();
    },
  };
}
