// The worker-side surfaces for the composition root (issue 13): a shard's store and delivery
// workers (issue 15) and the retention sweep, each a factory that takes the vault connection and
// its own slice and returns close(). The stanzas they send are built by protocol; the connection
// only carries them.
import type { RetentionSlice, StoreQuotaSlice } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { deliveryBatchStanza, deliveryStanza, expiryNoticeStanza, refusalStanza, storedReceiptsStanza } from '../protocol/index.js';
import type { XmppConnection } from '../xmpp/index.js';
import { closeWorker, type Redis } from './bullmq.js';
import { deliverShardName, QUEUE, storeShardName, type DeliverJobData, type DeliverJobName, type DeliverJobResult, type StoreJobData, type StoreJobName, type StoreJobResult } from './contract.js';
import type { Delivery } from './delivery.js';
import { DELIVER_WORKER_LOCK, STORE_JOB_OPTIONS, STORE_WORKER_LOCK, startWorker, type StoreShards } from './queues.js';
import { batchJob, jobItems } from './store-batch.js';
import { startRetention, type RetentionDeps, type RetentionService, type StartRetentionOptions } from './retention.js';
import type { DeviceLookup } from './recipient-check.js';
import { processStore, type StoreWorkerDeps } from './store-worker.js';

type Sender = Pick<XmppConnection, 'send' | 'bareJid'>;

export interface WorkerConnection {
  /** The blocking Redis connection of workers, and the queues' key prefix. */
  connection: Redis;
  prefix: string;
  logger: Logger;
  metrics: Metrics;
}

export interface ShardWorkersOptions extends WorkerConnection {
  shard: number;
  conn: Sender;
  quota: StoreQuotaSlice;
  /** The recipients' quota use in Redis, republished when the owner refuses what the ingest let through. */
  usage: NonNullable<StoreWorkerDeps['usage']>;
  /** The shard's stores (fenced writes). */
  archive: StoreWorkerDeps['archive'];
  directory: DeviceLookup;
  /** Told of each commit: available devices get it now, the others at their next presence. */
  listener: NonNullable<StoreWorkerDeps['listener']>;
  delivery: Pick<Delivery, 'processor' | 'hub' | 'resume'>;
  /** True for a user of this shard (its running deliveries end when the shard stops here). */
  mine: (jid: string) => boolean;
  /** The store queues: a sender's sent-history copies go to its own shard's. */
  store: Pick<StoreShards, 'for'>;
}

/**
 * The workers of one shard, run only by its owner (issue 15): the store worker, one job at a time,
 * so each recipient's submissions are committed in the order they arrived (per-sender order,
 * invariant 3), and the delivery worker. close() ends the shard's running deliveries at once
 * (their copies stay pending), then stops both.
 */
export function registerShardWorkers(o: ShardWorkersOptions): { close(): Promise<void> } {
  const deps: StoreWorkerDeps = {
    archive: o.archive,
    directory: o.directory,
    quota: o.quota,
    usage: o.usage,
    logger: o.logger.child({ module: 'store', shard: o.shard }),
    metrics: o.metrics,
    notifier: {
      receipts: (first, ids) => o.conn.send(storedReceiptsStanza(first.replyTo, first.stanzaId, ids)),
      refused: (item, err) => o.conn.send(refusalStanza(item.replyTo, item.stanzaId, item.messageId, err)),
    },
    listener: o.listener,
    sentCopies: {
      local: o.mine,
      async enqueue(job) {
        const { jobId } = batchJob(jobItems(job));
        await o.store.for(job.sender).add(QUEUE.store, job, { ...STORE_JOB_OPTIONS, jobId: `${jobId}-sent` });
      },
    },
  };
  const common = { connection: o.connection, prefix: o.prefix, logger: o.logger, metrics: o.metrics };
  const store = startWorker<StoreJobData, StoreJobResult, StoreJobName>({
    ...common,
    name: storeShardName(o.shard),
    concurrency: 1,
    lock: STORE_WORKER_LOCK,
    process: (job) => processStore(job.data, deps),
  });
  const deliver = startWorker<DeliverJobData, DeliverJobResult, DeliverJobName>({
    ...common,
    name: deliverShardName(o.shard),
    lock: DELIVER_WORKER_LOCK,
    // Jobs mostly wait for receipts; each holds at most the delivery window's copies in flight.
    concurrency: 64,
    process: o.delivery.processor({
      send: (to, copy) => o.conn.send(deliveryStanza(to, o.conn.bareJid, copy)),
      sendMany: (to, copies) => o.conn.send(deliveryBatchStanza(to, o.conn.bareJid, copies)),
    }),
  });
  // Devices of this shard that came online while another node owned it (or before a restart) get
  // their pending copies now, not at their next session.
  o.delivery
    .resume(o.shard)
    .then((n) => o.logger.debug({ shard: o.shard, devices: n }, 'deliveries resumed for online devices'))
    .catch((err: unknown) => o.logger.warn({ shard: o.shard, error: (err as Error).message }, 'deliveries not resumed; they wait for each device\'s next presence'));
  return {
    async close() {
      o.delivery.hub.stopWhere(o.mine);
      await Promise.all([closeWorker(store), closeWorker(deliver)]);
    },
  };
}

export interface RetentionOptions extends RetentionSlice {
  conn: Pick<XmppConnection, 'send'>;
  producer: Redis;
  /** The workers' connection: the sweep runs here. Omit to schedule only (an ingest-only process). */
  worker?: Redis | undefined;
  prefix: string;
  archive: RetentionDeps['archive'];
  directory: NonNullable<RetentionDeps['directory']>;
  now: () => number;
  logger: Logger;
  metrics: Metrics;
  sweep?: StartRetentionOptions['sweep'];
}

/**
 * The retention sweep (issue 7): the repeatable job is registered by every process (idempotent)
 * and runs where workers run. Senders learn of expired messages by a notice to their bare JID.
 */
export function registerRetention(o: RetentionOptions): Promise<RetentionService> {
  return startRetention({
    producer: o.producer,
    ...(o.worker === undefined ? {} : { worker: o.worker }),
    prefix: o.prefix,
    cron: o.cron,
    ...(o.sweep === undefined ? {} : { sweep: o.sweep }),
    deps: {
      archive: o.archive,
      directory: o.directory,
      notify: (n) => o.conn.send(expiryNoticeStanza(n)),
      transitTtlSeconds: o.transitTtlSeconds,
      now: o.now,
      logger: o.logger,
      metrics: o.metrics,
    },
  });
}
