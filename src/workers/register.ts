// The worker-side surfaces for the composition root (issue 13): a shard's store and delivery
// workers (issue 15) and the retention sweep, each a factory that takes the vault connection and
// its own slice and returns close(). The stanzas they send are built by protocol; the connection
// only carries them.
import type { RetentionSlice, StoreQuotaSlice } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { deliveryBatchStanza, deliveryStanza, expiryNoticeStanza, refusalStanza, storedReceiptsStanza } from '../protocol/index.js';
import type { XmppConnection } from '../xmpp/index.js';
import { closeWorker, type Queue, type Redis, type Worker } from './bullmq.js';
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
  /** The shard's stores (fenced writes), or every store of this process (with `held`). */
  archive: StoreWorkerDeps['archive'];
  directory: DeviceLookup;
  /** Told of each commit: available devices get it now, the others at their next presence. */
  listener: NonNullable<StoreWorkerDeps['listener']>;
  delivery: Pick<Delivery, 'processor' | 'hub' | 'resume'>;
  /** True for a user of this shard (its running deliveries end when the shard stops here). */
  mine: (jid: string) => boolean;
  /**
   * True for a user whose shard runs in this process (default `mine`): a sender's sent-history
   * copies are then written in the same job, through `archive`, which must reach that shard too;
   * the others' go to their shard's queue.
   */
  held?: (jid: string) => boolean;
  /** The store queues: a sender's sent-history copies go to its own shard's. */
  store: Pick<StoreShards, 'for'>;
  /**
   * Start the shard's workers only while its queues hold jobs (`sealpost serve`, which enqueues
   * every job itself): see OnDemand. Absent, both run for the life of the shard (worker nodes,
   * whose jobs come from the ingest process).
   */
  onDemand?: OnDemand;
}

/**
 * A shard's workers started when work appears and closed after `idleMs` without any (issue 16):
 * 64 shards' idle workers cost `serve` ~25 ms of CPU a second (blocking pops, stalled-job checks)
 * and ~50 MB of heap (128 workers, each with its own blocking Redis connection).
 */
export interface OnDemand {
  /** The shard's queues: a job added through them here wakes the worker at once (Queue 'waiting'). */
  storeQueue: WatchedQueue;
  deliverQueue: WatchedQueue;
  /** Close a worker after this long with no job of its own and none in its queue. */
  idleMs: number;
  /**
   * How often a stopped worker's queue is looked at, for jobs added by another process (an
   * operator's retry of failed jobs) or left by the previous run; it is also looked at once at start.
   */
  pollMs: number;
}

/** What OnDemand needs of a queue: job counts, and the 'waiting' event its own add() emits. */
export type WatchedQueue = Pick<Queue, 'getJobCounts' | 'on' | 'off'>;

/** Jobs that need a worker: waiting, running (or stalled by a dead run), delayed retries. */
const WORK_STATES = ['wait', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;

export interface Runner {
  close(): Promise<void>;
}

/**
 * Runs the worker `start()` makes while `queue` has work: started at once when a job is added
 * here, or when a look at the queue (at start, then every pollMs while stopped) finds one; closed
 * once it has run no job for idleMs and the queue holds none.
 */
export function runOnDemand(
  name: string,
  queue: WatchedQueue,
  start: (track: Track) => Runner,
  o: OnDemand,
  log: Logger,
  /** Other queues whose added jobs start this worker too. */
  also: readonly WatchedQueue[] = [],
): Runner {
  let worker: Runner | undefined;
  let closing: Promise<void> | undefined;
  let again = false;
  let ended = false;
  let inFlight = 0;
  let lastActive = Date.now();
  let idleTimer: NodeJS.Timeout | undefined;
  const track: Track = {
    begin: () => {
      inFlight++;
      lastActive = Date.now();
    },
    end: () => {
      inFlight--;
      lastActive = Date.now();
    },
  };
  const hasWork = async (): Promise<boolean> => {
    const counts = await queue.getJobCounts(...WORK_STATES);
    return Object.values(counts).some((n) => n > 0);
  };
  const check = async (): Promise<void> => {
    if (ended || closing !== undefined) return;
    if (worker === undefined) {
      if (await hasWork()) wake();
      return;
    }
    if (inFlight > 0 || Date.now() - lastActive < o.idleMs) return;
    if (await hasWork()) return;
    if (worker === undefined || inFlight > 0 || ended || closing !== undefined || Date.now() - lastActive < o.idleMs) return;
    const w = worker;
    worker = undefined;
    log.debug({ queue: name }, 'worker idle: closed until its queue has work');
    closing = w
      .close()
      .catch((err: unknown) => log.warn({ queue: name, error: (err as Error).message }, 'idle worker not closed cleanly'))
      .finally(() => {
        closing = undefined;
        if (again && !ended) {
          again = false;
          wake();
        }
      });
  };
  const tick = (): void => {
    check().catch((err: unknown) => {
      if (!ended) log.warn({ queue: name, error: (err as Error).message }, 'queue not looked at; next look at the next tick');
    });
  };
  const wake = (): void => {
    if (ended) return;
    lastActive = Date.now();
    if (closing !== undefined) {
      again = true;
      return;
    }
    if (worker !== undefined) return;
    worker = start(track);
  };
  const arm = (): void => {
    // While running, look every idleMs/2 whether to close; while stopped, every pollMs for work.
    idleTimer = setTimeout(
      () => {
        tick();
        if (!ended) arm();
      },
      // (jittered, so 128 stopped workers do not all look at once)
      worker === undefined ? o.pollMs * (0.75 + Math.random() / 2) : Math.max(100, o.idleMs / 2),
    );
    idleTimer.unref();
  };
  for (const q of [queue, ...also]) q.on('waiting', wake);
  tick();
  arm();
  return {
    async close() {
      ended = true;
      for (const q of [queue, ...also]) q.off('waiting', wake);
      clearTimeout(idleTimer);
      const w = worker;
      worker = undefined;
      await Promise.all([closing, w?.close()]);
    },
  };
}

/** Counts a worker's running jobs (OnDemand's idle test). */
export interface Track {
  begin(): void;
  end(): void;
}

const counted =
  <J, R>(track: Track | undefined, fn: (job: J) => Promise<R>) =>
  async (job: J): Promise<R> => {
    track?.begin();
    try {
      return await fn(job);
    } finally {
      track?.end();
    }
  };

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
      local: o.held ?? o.mine,
      async enqueue(job) {
        const { jobId } = batchJob(jobItems(job));
        await o.store.for(job.sender).add(QUEUE.store, job, { ...STORE_JOB_OPTIONS, jobId: `${jobId}-sent` });
      },
    },
  };
  const common = { connection: o.connection, prefix: o.prefix, logger: o.logger, metrics: o.metrics };
  const startStore = (track?: Track) =>
    startWorker<StoreJobData, StoreJobResult, StoreJobName>({
      ...common,
      name: storeShardName(o.shard),
      concurrency: 1,
      lock: STORE_WORKER_LOCK,
      process: counted(track, (job) => processStore(job.data, deps)),
    });
  const processDeliver = o.delivery.processor({
    send: (to, copy) => o.conn.send(deliveryStanza(to, o.conn.bareJid, copy)),
    sendMany: (to, copies) => o.conn.send(deliveryBatchStanza(to, o.conn.bareJid, copies)),
  });
  const startDeliver = (track?: Track) =>
    startWorker<DeliverJobData, DeliverJobResult, DeliverJobName>({
      ...common,
      name: deliverShardName(o.shard),
      lock: DELIVER_WORKER_LOCK,
      // Jobs mostly wait for receipts; each holds at most the delivery window's copies in flight.
      concurrency: 64,
      process: counted(track, processDeliver),
    });
  const log = o.logger.child({ module: 'worker', shard: o.shard });
  const closer = <D, R, N extends string>(w: Worker<D, R, N>): Runner => ({ close: () => closeWorker(w) });
  const runners: Runner[] =
    o.onDemand === undefined
      ? [closer(startStore()), closer(startDeliver())]
      : [
          runOnDemand(storeShardName(o.shard), o.onDemand.storeQueue, (t) => closer(startStore(t)), o.onDemand, log),
          // A stored message is mostly delivered soon after: a store job starts the delivery worker
          // too, so a device coming online then does not wait for that worker's start.
          runOnDemand(deliverShardName(o.shard), o.onDemand.deliverQueue, (t) => closer(startDeliver(t)), o.onDemand, log, [o.onDemand.storeQueue]),
        ];
  // Devices of this shard that came online while another node owned it (or before a restart) get
  // their pending copies now, not at their next session.
  o.delivery
    .resume(o.shard)
    .then((n) => o.logger.debug({ shard: o.shard, devices: n }, 'deliveries resumed for online devices'))
    .catch((err: unknown) => o.logger.warn({ shard: o.shard, error: (err as Error).message }, 'deliveries not resumed; they wait for each device\'s next presence'));
  return {
    async close() {
      o.delivery.hub.stopWhere(o.mine);
      await Promise.all(runners.map((r) => r.close()));
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
