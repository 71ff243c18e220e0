// Adding a store job under its (sender, message id) job id (contract.ts storeJobId). While an
// earlier submission of the same message still holds that id, BullMQ keeps the earlier job and
// drops the new one, and Queue.add hands back a job built from the caller's own data, so the caller
// cannot tell from it that nothing was queued (issue 14). So the id's state is read first: when an
// earlier job holds it, this submission waits in the background until that job is gone and is then
// added, and the store worker answers it (a receipt only once the archive holds the row, a refusal
// otherwise). A failed earlier job is left to the operator (`retry failed`): no answer, and the
// sender resends. Two ingest processes adding the same message in the same instant may still
// drop one (no answer for it; its sender resends).
import type { Logger } from '../log/index.js';
import type { StoreJobData } from './contract.js';
import { STORE_JOB_OPTIONS, type StoreShards } from './queues.js';
import { QUEUE } from './contract.js';

export interface StoreEnqueuer {
  /** Resolves once the job is queued, or handed to the background wait behind an earlier one. */
  enqueue(jobId: string, data: StoreJobData): Promise<void>;
  /** Ends the background waits. */
  close(): void;
}

export interface StoreEnqueuerOptions {
  /** How long to wait behind an earlier job before giving up (default 10 s). */
  waitMs?: number;
  /** Poll interval of that wait (default 50 ms). */
  pollMs?: number;
  logger: Logger;
}

/** States in which an earlier job still holds the id; it will end (completed jobs are removed). */
const HELD = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed']);

export function createStoreEnqueuer(shards: Pick<StoreShards, 'for'>, options: StoreEnqueuerOptions): StoreEnqueuer {
  const waitMs = options.waitMs ?? 10_000;
  const pollMs = options.pollMs ?? 50;
  const log = options.logger.child({ module: 'enqueue' });
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  /** 'queued', or the state of the earlier job that holds the id. */
  const add = async (jobId: string, data: StoreJobData): Promise<string> => {
    const queue = shards.for(data.recipient);
    let state = await queue.getJobState(jobId);
    // A failed earlier job must not hold the id: BullMQ would drop every resend as a duplicate and
    // the sender would never get an answer (issue 14). The resend takes its place.
    if (state === 'failed') {
      await queue.remove(jobId);
      state = await queue.getJobState(jobId);
    }
    if (state !== 'unknown') return state;
    await queue.add(QUEUE.store, data, { ...STORE_JOB_OPTIONS, jobId });
    return 'queued';
  };

  const behind = async (jobId: string, data: StoreJobData): Promise<void> => {
    for (const deadline = Date.now() + waitMs; !closed && Date.now() < deadline; ) {
      await sleep(pollMs);
      const state = await add(jobId, data);
      if (state === 'queued') return;
      if (!HELD.has(state)) {
        log.debug({ state }, 'an earlier job of this submission did not complete; no answer');
        return;
      }
    }
  };

  return {
    async enqueue(jobId, data) {
      if ((await add(jobId, data)) === 'queued') return;
      // Wait in the background: the sender's next submissions must not queue behind this one.
      behind(jobId, data).catch((err: unknown) => log.debug({ error: (err as Error).message }, 'waiting behind an earlier job failed'));
    },
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
