// The shards running in this process (issue 15, design.md "Owners"): starting a shard claims its
// fence and opens its stores (stores' ShardOpener), adds them to the routed archive and directory,
// starts its store and delivery workers and, on a worker node, answers its requests on the bus;
// stopping it undoes that, newest first. `sealpost serve` starts every shard at once (no leases);
// a worker node starts and stops them from its owner loop.
import type { StoreQuotaSlice } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { shardOf, type FenceState, type Lease, type StartResult } from '../shards/index.js';
import type { ShardedStores, ShardOpener } from '../stores/index.js';
import { registerShardWorkers, type Delivery, type DeliverShards, type OnDemand, type Redis, type RequestBus, type ShardWorkersOptions, type StoreShards } from '../workers/index.js';
import type { ArchiveStore } from '../archive/index.js';
import type { XmppConnection } from '../xmpp/index.js';

export interface ShardHostOptions {
  opener: Pick<ShardOpener, 'open'>;
  sharded: ShardedStores;
  /** Each shard's archive as its workers write it (the quota use mirrored to Redis on each write). */
  mirrored: (archive: ArchiveStore) => ArchiveStore;
  usage: ShardWorkersOptions['usage'];
  /** Where shard k's directory is (or is to be created). */
  dirOf(shard: number): Promise<string> | string;
  connection: Redis;
  prefix: string;
  conn: Pick<XmppConnection, 'send' | 'bareJid'>;
  quota: StoreQuotaSlice;
  delivery: Delivery;
  /** The store queues (a sender's sent-history copies go to its shard's). */
  store: Pick<StoreShards, 'for'>;
  /**
   * `sealpost serve`: each shard's workers run only while its queues have work (register.ts
   * OnDemand); these are the queues every job of the process goes through. Absent (worker nodes,
   * whose jobs the ingest process adds), they run as long as the shard.
   */
  onDemand?: Pick<OnDemand, 'idleMs' | 'pollMs'> & { store: Pick<StoreShards, 'shards'>; deliver: Pick<DeliverShards, 'shards'> };
  /** A worker node answers the shard's requests (routed IQs, presence, sweeps) here. */
  bus?: { bus: RequestBus; answer: (shard: number, payload: unknown) => Promise<unknown> };
  logger: Logger;
  metrics: Metrics;
}

export interface ShardHost {
  start(shard: number, lease: Lease | ((current: FenceState) => Lease)): Promise<StartResult>;
  stop(shard: number): Promise<void>;
  running(): number[];
  /** Stops every shard. */
  close(): Promise<void>;
}

interface Running {
  close(): Promise<void>;
}

export function createShardHost(o: ShardHostOptions): ShardHost {
  const running = new Map<number, Running>();
  const routed = o.mirrored(o.sharded.archive);
  const log = o.logger.child({ module: 'shard-host' });

  const stop = async (shard: number): Promise<void> => {
    const r = running.get(shard);
    running.delete(shard);
    await r?.close();
  };

  return {
    async start(shard, lease) {
      const opened = await o.opener.open(shard, await o.dirOf(shard), lease);
      if (!opened.started) return opened;
      const { stores } = opened;
      const undo: (() => Promise<void> | void)[] = [() => stores.close(), () => void o.sharded.detach(shard)];
      const close = async (): Promise<void> => {
        for (const fn of undo.reverse().splice(0)) {
          try {
            await fn();
          } catch (err) {
            log.warn({ shard, error: (err as Error).message }, 'shard stop step failed');
          }
        }
      };
      try {
        o.sharded.attach(stores);
        const workers = registerShardWorkers({
          shard,
          connection: o.connection,
          prefix: o.prefix,
          logger: o.logger,
          metrics: o.metrics,
          conn: o.conn,
          quota: o.quota,
          // Every shard held here: a sender's sent-history copies held here too are written in the
          // store job itself (one job, not a second one on the sender's queue; issue 16).
          archive: routed,
          usage: o.usage,
          directory: stores.directory,
          listener: o.delivery,
          delivery: o.delivery,
          mine: (jid) => shardOf(jid, o.sharded.count) === shard,
          held: (jid) => o.sharded.of(jid) !== undefined,
          store: o.store,
          ...(o.onDemand === undefined ? {} : { onDemand: onDemandOf(o.onDemand, shard) }),
        });
        undo.push(() => workers.close());
        if (o.bus !== undefined) {
          const { bus, answer } = o.bus;
          undo.push(await bus.serve(shard, (p) => answer(shard, p)));
        }
      } catch (err) {
        await close();
        throw err;
      }
      running.set(shard, { close });
      return { started: true };
    },
    stop,
    running: () => [...running.keys()].sort((a, b) => a - b),
    async close() {
      for (const k of [...running.keys()].reverse()) await stop(k);
    },
  };
}

function onDemandOf(d: NonNullable<ShardHostOptions['onDemand']>, shard: number): OnDemand {
  const storeQueue = d.store.shards[shard];
  const deliverQueue = d.deliver.shards[shard];
  if (storeQueue === undefined || deliverQueue === undefined) throw new RangeError(`shard ${shard}: no queue of that shard`);
  return { storeQueue, deliverQueue, idleMs: d.idleMs, pollMs: d.pollMs };
}
