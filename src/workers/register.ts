// The worker-side surfaces for the composition root (issue 13): the store workers (one per shard),
// the deliver worker and the retention sweep, each a factory that takes the vault connection and
// its own slice and returns close(). The stanzas they send are built by protocol; the connection
// only carries them.
import type { RetentionSlice, StoreQuotaSlice } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { deliveryBatchStanza, deliveryStanza, expiryNoticeStanza, refusalStanza, storedReceiptsStanza } from '../protocol/index.js';
import type { XmppConnection } from '../xmpp/index.js';
import { closeWorker, type Redis } from './bullmq.js';
import { QUEUE, storeShardName, type DeliverJobData, type DeliverJobName, type DeliverJobResult, type StoreJobData, type StoreJobName, type StoreJobResult } from './contract.js';
import type { Delivery } from './delivery.js';
import { STORE_WORKER_LOCK, startWorker } from './queues.js';
import { startRetention, type RetentionDeps, type RetentionService } from './retention.js';
import { processStore, type StoreWorkerDeps } from './store-worker.js';

type Sender = Pick<XmppConnection, 'send' | 'bareJid'>;

export interface WorkerConnection {
  /** The blocking Redis connection of workers, and the queues' key prefix. */
  connection: Redis;
  prefix: string;
  logger: Logger;
  metrics: Metrics;
}

export interface StoreWorkersOptions extends WorkerConnection {
  conn: Sender;
  storeShards: number;
  quota: StoreQuotaSlice;
  /** The recipients' quota use in Redis, republished when the owner refuses what the ingest let through. */
  usage: NonNullable<StoreWorkerDeps['usage']>;
  archive: StoreWorkerDeps['archive'];
  /** Told of each commit: available devices get it now, the others at their next presence. */
  listener: NonNullable<StoreWorkerDeps['listener']>;
}

/**
 * One worker per store shard, one job at a time: each recipient's submissions are committed in
 * the order they arrived (per-sender order, invariant 3); shards run in parallel.
 */
export function registerStoreWorkers(o: StoreWorkersOptions): { close(): Promise<void> } {
  const deps: StoreWorkerDeps = {
    archive: o.archive,
    quota: o.quota,
    usage: o.usage,
    logger: o.logger.child({ module: 'store' }),
    metrics: o.metrics,
    notifier: {
      receipts: (first, ids) => o.conn.send(storedReceiptsStanza(first.replyTo, first.stanzaId, ids)),
      refused: (item, err) => o.conn.send(refusalStanza(item.replyTo, item.stanzaId, item.messageId, err)),
    },
    listener: o.listener,
  };
  const workers = Array.from({ length: o.storeShards }, (_, i) =>
    startWorker<StoreJobData, StoreJobResult, StoreJobName>({
      name: storeShardName(i),
      connection: o.connection,
      prefix: o.prefix,
      concurrency: 1,
      lock: STORE_WORKER_LOCK,
      logger: o.logger,
      metrics: o.metrics,
      process: (job) => processStore(job.data, deps),
    }),
  );
  return {
    async close() {
      await Promise.all(workers.map(closeWorker));
    },
  };
}

export interface DeliverWorkerOptions extends WorkerConnection {
  conn: Sender;
  delivery: Pick<Delivery, 'processor' | 'close'>;
}

/** The deliver worker; close() ends its running jobs at once (their copies stay pending), then stops it. */
export function registerDeliverWorker(o: DeliverWorkerOptions): { close(): Promise<void> } {
  const worker = startWorker<DeliverJobData, DeliverJobResult, DeliverJobName>({
    name: QUEUE.deliver,
    connection: o.connection,
    prefix: o.prefix,
    // Jobs mostly wait for receipts; each holds at most the delivery window's copies in flight.
    concurrency: 64,
    logger: o.logger,
    metrics: o.metrics,
    process: o.delivery.processor({
      send: (to, copy) => o.conn.send(deliveryStanza(to, o.conn.bareJid, copy)),
      sendMany: (to, copies) => o.conn.send(deliveryBatchStanza(to, o.conn.bareJid, copies)),
    }),
  });
  return {
    async close() {
      o.delivery.close();
      await closeWorker(worker);
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
