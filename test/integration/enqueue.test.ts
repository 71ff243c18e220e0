// A resend of a submission whose first store job still holds the job id (issue 14: Queue.add hands
// back a job built from the caller's data even when BullMQ dropped it as a duplicate, so "is it
// ours?" was always yes and the resend never got an answer). On real Redis, with the store worker
// held back: the resend is queued again once the earlier job finished, and the worker answers it.
import { describe, expect, it, onTestFinished } from 'vitest';
import { AppError, ErrorCode } from '../../src/errors/index.js';
import { initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import {
  createStoreEnqueuer,
  startWorker,
  storeJobId,
  storeShardName,
  type StoreJobData,
  type StoreJobResult,
} from '../../src/workers/index.js';
import { testQueues } from './helpers.js';

const item = (stanzaId: string, receivedAt: number): StoreJobData => ({
  sender: 'alice@localhost',
  replyTo: 'alice@localhost/phone',
  stanzaId,
  recipient: 'bob@localhost',
  messageId: 'm-1',
  receivedAt,
  envelope: { suite: 'sp1', id: 'm-1', from: 'alice@localhost', device: 1, to: 'bob@localhost', blocks: [], size: 1, payload: 'AA==' },
});

/** The store shard's worker running `process`, closed when the test ends. */
function storeWorker(prefix: string, connection: Parameters<typeof startWorker>[0]['connection'], process: (job: { data: StoreJobData }) => Promise<StoreJobResult>): void {
  const worker = startWorker<StoreJobData, StoreJobResult>({ name: storeShardName(0), connection, prefix, concurrency: 1, logger: silentLogger(), process });
  onTestFinished(() => worker.close());
}

describe('store enqueue behind an earlier job of the same submission', () => {
  it('queues the resend again once the earlier job is done, so the worker answers both', async () => {
    await initSodium();
    const { prefix, consumer, queues } = await testQueues(1);
    const enqueuer = createStoreEnqueuer(queues.store, { logger: silentLogger(), waitMs: 20_000, pollMs: 20 });
    onTestFinished(() => enqueuer.close());
    const jobId = storeJobId('alice@localhost', 'm-1');
    await enqueuer.enqueue(jobId, item('first', 1000));
    await enqueuer.enqueue(jobId, item('resend', 2000)); // the first still holds the id: dropped by BullMQ
    const held = await queues.store.shards[0]!.getJob(jobId);
    expect(held?.data.stanzaId).toBe('first');

    const answered: string[] = [];
    storeWorker(prefix, consumer, (job) => {
      answered.push(job.data.stanzaId);
      return Promise.resolve({ inserted: answered.length === 1, archiveId: 'x' });
    });
    await expect.poll(() => answered, { timeout: 15_000 }).toEqual(['first', 'resend']);
  });

  it('does not let a failed earlier job swallow the resend: the resend is queued again and answered (issue 14)', async () => {
    await initSodium();
    const { prefix, consumer, queues } = await testQueues(1);
    const enqueuer = createStoreEnqueuer(queues.store, { logger: silentLogger(), waitMs: 20_000, pollMs: 20 });
    onTestFinished(() => enqueuer.close());
    const jobId = storeJobId('alice@localhost', 'm-1');
    const answered: string[] = [];
    storeWorker(prefix, consumer, (job) => {
      answered.push(job.data.stanzaId);
      if (job.data.stanzaId === 'first') return Promise.reject(new AppError(ErrorCode.Corrupt, 'archive page damaged'));
      return Promise.resolve({ inserted: true, archiveId: 'x' });
    });
    await enqueuer.enqueue(jobId, item('first', 1000));
    await expect.poll(() => queues.store.shards[0]!.getJobState(jobId), { timeout: 15_000 }).toBe('failed');
    await enqueuer.enqueue(jobId, item('resend', 2000));
    await expect.poll(() => answered, { timeout: 15_000 }).toEqual(['first', 'resend']);
  });
});
