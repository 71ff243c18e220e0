// Retention (issue 7; design.md "XMPP surfaces": History, XEP-0136 `expire`): a BullMQ job on a
// cron schedule that sweeps every user archive in bounded batches — purges items past the user's
// or the operator's retention, expires transit copies undelivered past their TTL and tells each
// sender which message expired, erases the directory's devices whose signed prekeys expired, and
// checkpoints (and, when much is free, vacuums) the files it changed. Progress is reported on the
// job. The clock is injected, so tests move time instead of waiting. Also the operator's
// crypto-shredding of one user (wrapped key first, then the files).
import type { ArchiveStore, ExpiredRef, ShredResult } from '../archive/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { DEFAULT_ROTATION } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { closeWorker, Job, Queue, Worker, type Redis } from './bullmq.js';
import { QUEUE, queueKeyName } from './contract.js';
import { unrecoverableOnPermanent } from './queues.js';

export interface RetentionJobData {
  trigger: 'schedule' | 'manual';
}

export interface RetentionJobResult {
  users: number;
  /** Archive items removed past retention. */
  purged: number;
  /** Transit copies expired undelivered (each named to its sender). */
  expired: number;
  /** Delivered transit rows without a history copy, dropped after the TTL (dedupe only). */
  tombstones: number;
  notices: number;
  noticeFailures: number;
  /** Directory devices whose signed prekey expired, erased. */
  prekeysErased: number;
  checkpointed: number;
  vacuumed: number;
  /** The sweep's clock, ms. */
  now: number;
}

/** One sender to tell that a message it sent expired undelivered. */
export interface ExpiredMessageNotice {
  sender: string;
  recipient: string;
  messageId: string;
  reason: 'transit-ttl' | 'retention';
  devices: readonly number[];
}

export interface RetentionDeps {
  archive: Pick<ArchiveStore, 'listUsers' | 'purgeExpired' | 'expireTransit' | 'checkpoint' | 'vacuum' | 'spaceStats'>;
  /** The key directory, when this process holds it. */
  directory?: { eraseExpired(before: number, limit: number): { jid: string; device: number }[] };
  notify(notice: ExpiredMessageNotice): Promise<void>;
  transitTtlSeconds: number;
  now: () => number;
  /** Rows per archive call, and devices per directory call (default 500). */
  batch?: number;
  /** Users listed per keyring read (default 200). */
  usersPerPage?: number;
  /** Vacuum a changed file when at least this share of its pages is free (default 0.25). */
  vacuumFreeRatio?: number;
  /** Directory devices are erased this long after their signed prekey expired (default: one SPK period). */
  prekeyGraceMs?: number;
  logger: Logger;
  metrics?: Metrics;
  progress?: (p: RetentionJobResult) => Promise<void>;
  /** Checked between batches: true stops the sweep early (the next run continues). */
  stopping?: () => boolean;
}

/** Lets other work (ingest, deliveries) in between bounded batches. */
const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One full sweep; resolves with what it did. */
export async function runRetention(deps: RetentionDeps): Promise<RetentionJobResult> {
  const log = deps.logger.child({ module: 'retention' });
  const batch = deps.batch ?? 500;
  const now = deps.now();
  const r: RetentionJobResult = {
    users: 0, purged: 0, expired: 0, tombstones: 0, notices: 0, noticeFailures: 0, prekeysErased: 0, checkpointed: 0, vacuumed: 0, now,
  };
  const tell = async (recipient: string, refs: readonly ExpiredRef[], reason: ExpiredMessageNotice['reason']): Promise<void> => {
    for (const ref of refs) {
      // The rows are gone whatever happens here; a notice that cannot be sent is counted and logged.
      try {
        await deps.notify({ sender: ref.sender, recipient, messageId: ref.messageId, reason, devices: ref.deviceIds });
        r.notices++;
      } catch (err) {
        r.noticeFailures++;
        log.warn({ error: (err as Error).message }, 'expiry notice not sent');
      }
    }
  };

  for (let after = ''; ; ) {
    const users = deps.archive.listUsers({ after, limit: deps.usersPerPage ?? 200 });
    for (const user of users) {
      if (deps.stopping?.() === true) return r;
      let changed = 0;
      for (let done = false; !done; await breathe()) {
        const p = deps.archive.purgeExpired(user.jid, now, batch);
        r.purged += p.purged;
        changed += p.purged;
        deps.metrics?.retention.inc({ action: 'purged' }, p.purged);
        await tell(user.jid, p.undelivered, 'retention');
        done = p.done;
      }
      for (let done = false; !done; await breathe()) {
        const e = deps.archive.expireTransit(user.jid, now, deps.transitTtlSeconds, batch);
        r.expired += e.expired.length;
        r.tombstones += e.tombstones;
        changed += e.expired.length + e.tombstones;
        deps.metrics?.retention.inc({ action: 'expired' }, e.expired.length);
        await tell(user.jid, e.expired, 'transit-ttl');
        done = e.done;
      }
      if (changed > 0) {
        if (deps.archive.checkpoint(user.jid)) r.checkpointed++;
        const space = deps.archive.spaceStats(user.jid);
        if (space.pages > 16 && space.freePages >= space.pages * (deps.vacuumFreeRatio ?? 0.25)) {
          deps.archive.vacuum(user.jid);
          r.vacuumed++;
        }
      }
      r.users++;
    }
    await deps.progress?.({ ...r });
    const last = users.at(-1);
    if (last === undefined || users.length < (deps.usersPerPage ?? 200)) break;
    after = last.userHash;
  }

  if (deps.directory !== undefined) {
    const before = now - (deps.prekeyGraceMs ?? DEFAULT_ROTATION.graceMs);
    for (let n = batch; n === batch; await breathe()) {
      n = deps.directory.eraseExpired(before, batch).length;
      r.prekeysErased += n;
      deps.metrics?.retention.inc({ action: 'prekeys-erased' }, n);
    }
  }
  await deps.progress?.({ ...r });
  log.info({ ...r }, 'retention sweep done');
  return r;
}

export interface ShredDeps {
  archive: Pick<ArchiveStore, 'shredUser'>;
  directory?: { devices(jid: string): number[]; remove(jid: string, device: number): boolean };
  logger: Logger;
  metrics?: Metrics;
}

export interface ShredReport extends ShredResult {
  /** The user's published devices removed from the key directory. */
  devicesRemoved: number;
}

/**
 * Crypto-shreds one user (the operator's erasure): the wrapped archive key is erased first, then
 * the archive files (db, -wal, -shm); the user's published bundles leave the key directory.
 */
export function shred(deps: ShredDeps, jid: string): ShredReport {
  const result = deps.archive.shredUser(jid);
  let devicesRemoved = 0;
  if (deps.directory !== undefined)
    for (const device of deps.directory.devices(jid)) if (deps.directory.remove(jid, device)) devicesRemoved++;
  deps.metrics?.retention.inc({ action: 'shredded' });
  deps.logger.child({ module: 'retention' }).info({ ...result, devicesRemoved }, 'user shredded by the operator');
  return { ...result, devicesRemoved };
}

/**
 * Queues a manual sweep and waits for whichever process runs the retention worker to finish it
 * (the service, or the operator's `sealpost retention run` asking the running service).
 */
export async function requestSweep(
  queue: Queue<RetentionJobData, RetentionJobResult>,
  timeoutMs = 60_000,
): Promise<RetentionJobResult> {
  const job = await queue.add('sweep', { trigger: 'manual' }, JOB_OPTS);
  const id = job.id ?? '';
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const current = await Job.fromId<RetentionJobData, RetentionJobResult>(queue, id);
    if (current?.finishedOn !== undefined) {
      if (current.returnvalue !== null && current.returnvalue !== undefined) return current.returnvalue;
      throw new AppError(ErrorCode.Internal, `retention sweep failed: ${current.failedReason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new AppError(ErrorCode.Timeout, `retention sweep did not finish within ${timeoutMs} ms (is a worker running?)`);
}

/** The retention queue, for producers that only request sweeps. */
export function retentionQueue(producer: Redis, prefix: string): Queue<RetentionJobData, RetentionJobResult> {
  return new Queue<RetentionJobData, RetentionJobResult>(queueKeyName(QUEUE.retention), { connection: producer, prefix });
}

export interface RetentionService {
  queue: Queue<RetentionJobData, RetentionJobResult>;
  /** Runs a sweep now through the queue and resolves with its result (tests, the operator). */
  runNow(timeoutMs?: number): Promise<RetentionJobResult>;
  close(): Promise<void>;
}

export interface StartRetentionOptions {
  producer: Redis;
  /** A blocking connection for the worker; omit to schedule only (no worker in this process). */
  worker?: Redis;
  prefix: string;
  /** Cron pattern of the repeatable sweep (BullMQ job scheduler). */
  cron: string;
  deps: Omit<RetentionDeps, 'progress' | 'stopping'>;
  /** The sweep's body when this process does not hold every archive (issue 15: each shard by its owner). */
  sweep?: (deps: Omit<RetentionDeps, 'progress'>, progress: (p: RetentionJobResult) => Promise<void>) => Promise<RetentionJobResult>;
}

const SCHEDULER_ID = 'retention-sweep';
const JOB_OPTS = { attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { count: 50 }, removeOnFail: { count: 50 } };

/** Registers the repeatable sweep (idempotent across processes) and, with `worker`, runs it. */
export async function startRetention(o: StartRetentionOptions): Promise<RetentionService> {
  const queue = new Queue<RetentionJobData, RetentionJobResult>(queueKeyName(QUEUE.retention), { connection: o.producer, prefix: o.prefix });
  queue.on('error', () => undefined); // the connection's owner logs its errors (see createQueues)
  try {
    await queue.upsertJobScheduler(SCHEDULER_ID, { pattern: o.cron }, { name: 'sweep', data: { trigger: 'schedule' }, opts: JOB_OPTS });
  } catch (err) {
    await queue.close();
    throw new AppError(ErrorCode.Unavailable, `cannot schedule the retention sweep (${o.cron}): ${(err as Error).message}`, { cause: err });
  }
  let closing = false;
  const log = o.deps.logger.child({ module: 'retention' });
  let worker: Worker<RetentionJobData, RetentionJobResult> | undefined;
  if (o.worker !== undefined) {
    worker = new Worker<RetentionJobData, RetentionJobResult>(
      queueKeyName(QUEUE.retention),
      unrecoverableOnPermanent((job: Job<RetentionJobData, RetentionJobResult>) => {
        const progress = (p: RetentionJobResult): Promise<void> => job.updateProgress({ ...p });
        const deps = { ...o.deps, stopping: () => closing };
        return o.sweep === undefined ? runRetention({ ...deps, progress }) : o.sweep(deps, progress);
      }),
      { connection: o.worker, prefix: o.prefix, concurrency: 1 },
    );
    worker.on('failed', (job, err) => {
      log.warn({ jobId: job?.id, error: err.message.slice(0, 200) }, 'retention sweep failed');
      o.deps.metrics?.failedJobs.inc({ queue: QUEUE.retention });
    });
    worker.on('error', (err) => log.error({ error: err.message }, 'retention worker error'));
    // Its blocking connection must finish connecting before a close, or ioredis rejects the
    // pending ready check unhandled ("Connection is closed") when the service stops at once.
    const ready = worker;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      ready.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return {
    queue,
    runNow: (timeoutMs = 60_000) => requestSweep(queue, timeoutMs),
    async close() {
      closing = true;
      if (worker !== undefined) await closeWorker(worker);
      await queue.close();
    },
  };
}
