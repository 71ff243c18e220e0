// BullMQ wiring of the store and delivery queues: typed Queue<Data, Result> for producers, workers
// that turn permanent AppErrors into UnrecoverableError (no retry), retries with exponential
// backoff for the rest, completed jobs removed (ciphertext leaves Redis), failed jobs kept and
// counted until an operator retries them.
import { AppError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions, type Redis } from './bullmq.js';
import { shardOf } from '../shards/index.js';
import {
  deliverShardName,
  queueKeyName,
  storeShardName,
  type DeliverJobData,
  type DeliverJobName,
  type DeliverJobResult,
  type StoreJobData,
  type StoreJobName,
  type StoreJobResult,
} from './contract.js';

export const STORE_JOB_OPTIONS: JobsOptions = {
  attempts: 12,
  backoff: { type: 'exponential', delay: 250 },
  removeOnComplete: true,
  // Failed jobs hold ciphertext: kept for the operator, bounded in count and age (issue 14).
  removeOnFail: { count: 1000, age: 7 * 86400 },
};

export const DELIVER_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
};

/**
 * Lock and stall settings of the store workers. A store job takes milliseconds and is idempotent,
 * so a job whose worker died (kill -9, a lost host) goes back to waiting after a short lock instead
 * of BullMQ's 30 s (its sender waits for the receipt meanwhile), and may go back many times: with
 * BullMQ's default of once, a job caught in two crashes sat in the failed set while its sender's
 * resends were dropped as duplicates of that job id.
 */
export const STORE_WORKER_LOCK: WorkerLock = { lockDurationMs: 5_000, stalledIntervalMs: 2_500, maxStalledCount: 20 };

/**
 * The delivery workers': BullMQ's lock times, but a job whose node died goes back to waiting many
 * times, not once: a job recovered from a killed node by one that is then paused past its lease
 * would otherwise fail as stalled and the device wait for its next session (issue 15).
 */
export const DELIVER_WORKER_LOCK: WorkerLock = { lockDurationMs: 30_000, stalledIntervalMs: 30_000, maxStalledCount: 20 };

/**
 * `sealpost serve`'s shard workers run only while their queues have work (register.ts OnDemand,
 * issue 16): closed after this long idle, and a stopped one's queue looked at this often for jobs
 * added by another process (a job added by serve itself starts its worker at once).
 */
export const SHARD_WORKER_IDLE_MS = 60_000;
export const SHARD_WORKER_POLL_MS = 30_000;

export type StoreQueue = Queue<StoreJobData, StoreJobResult, StoreJobName>;
export type DeliverQueue = Queue<DeliverJobData, DeliverJobResult, DeliverJobName>;

/**
 * A queue per shard (issue 15, design.md "Shards"): a user's jobs go to the queue of the user's
 * shard, which only the shard's owner works. The store queue has one worker with concurrency 1
 * per shard, keeping each recipient's submissions in arrival order (invariant 3).
 */
export interface ShardQueues<Q extends Queue> {
  readonly shards: readonly Q[];
  /** The queue of `jid`'s shard. */
  for(jid: string): Q;
  /** Job counts summed over the shards. */
  getJobCounts(...states: JobState[]): Promise<Record<string, number>>;
  getFailedCount(): Promise<number>;
}

export type StoreShards = ShardQueues<StoreQueue>;
export type DeliverShards = ShardQueues<DeliverQueue>;

export interface Queues {
  store: StoreShards;
  deliver: DeliverShards;
  close(): Promise<void>;
}

type JobState = Parameters<Queue['getJobCounts']>[0];

function shardQueues<Q extends Queue>(count: number, make: (k: number) => Q): ShardQueues<Q> {
  const shards = Array.from({ length: count }, (_, k) => make(k));
  // A queue re-emits its connection's errors, which the connection's owner logs (main.ts); unheard,
  // BullMQ prints each one to stderr (seen while Redis restarts).
  for (const q of shards) q.on('error', () => undefined);
  return {
    shards,
    for: (jid) => shards[shardOf(jid, count)] as Q,
    async getJobCounts(...states) {
      const all = await Promise.all(shards.map((q) => q.getJobCounts(...states)));
      const sum: Record<string, number> = {};
      for (const counts of all) for (const [k, n] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + n;
      return sum;
    },
    async getFailedCount() {
      return (await Promise.all(shards.map((q) => q.getFailedCount()))).reduce((a, b) => a + b, 0);
    },
  };
}

/** The store and delivery queues of `shardCount` shards (the count in the data's layout.json). */
export function createQueues(connection: Redis, prefix: string, shardCount = 1): Queues {
  const store = shardQueues(shardCount, (k): StoreQueue => new Queue<StoreJobData, StoreJobResult, StoreJobName>(queueKeyName(storeShardName(k)), { connection, prefix }));
  const deliver = shardQueues(shardCount, (k): DeliverQueue => new Queue<DeliverJobData, DeliverJobResult, DeliverJobName>(queueKeyName(deliverShardName(k)), { connection, prefix }));
  return {
    store,
    deliver,
    async close() {
      await Promise.all([...store.shards, ...deliver.shards].map((q) => q.close()));
    },
  };
}

/** Wraps a processor: permanent AppErrors are not retried. */
export function unrecoverableOnPermanent<J, R>(fn: (job: J) => Promise<R>): (job: J) => Promise<R> {
  return async (job) => {
    try {
      return await fn(job);
    } catch (err) {
      if (AppError.is(err) && err.permanent) throw new UnrecoverableError(`${err.code}: ${err.message}`);
      throw err;
    }
  };
}

export interface StartWorkerOptions<D, R, N extends string = string> {
  name: string;
  connection: Redis;
  prefix: string;
  concurrency: number;
  /** The processor gets the whole job (data, id, attempts, progress), as BullMQ's Processor does. */
  process: (job: Job<D, R, N>) => Promise<R>;
  logger: Logger;
  metrics?: Metrics;
  /** Job lock and stalled-job recovery; BullMQ's defaults (30 s, 30 s, once) when absent. */
  lock?: WorkerLock;
}

export interface WorkerLock {
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
}

export function startWorker<D, R, N extends string = string>(options: StartWorkerOptions<D, R, N>): Worker<D, R, N> {
  const log = options.logger.child({ module: 'worker', queue: options.name });
  const worker = new Worker<D, R, N>(queueKeyName(options.name), unrecoverableOnPermanent(options.process), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    ...(options.lock === undefined
      ? {}
      : {
          lockDuration: options.lock.lockDurationMs,
          stalledInterval: options.lock.stalledIntervalMs,
          maxStalledCount: options.lock.maxStalledCount,
        }),
  });
  worker.on('failed', (job, err) => {
    const final = job === undefined || err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    log.warn({ jobId: job?.id, attempts: job?.attemptsMade, final, error: err.message.slice(0, 200) }, 'job failed');
    if (final) options.metrics?.failedJobs.inc({ queue: options.name });
  });
  worker.on('error', (err) => log.error({ error: err.message }, 'worker error'));
  return worker;
}

/** Moves every failed job of `queue` back to waiting; returns how many. */
export async function retryFailed(queue: Queue): Promise<number> {
  let retried = 0;
  for (;;) {
    const failed = await queue.getFailed(0, 99);
    if (failed.length === 0) return retried;
    for (const job of failed) {
      await job.retry('failed');
      retried++;
    }
  }
}
