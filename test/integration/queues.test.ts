// Queue behaviour the write path relies on, on real Redis: a poison store job ends in the failed
// set (never silently dropped), is counted, and an operator's retry runs it again; a Redis that
// may evict keys is refused in strict mode and warned about otherwise.
import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { AppError, ErrorCode } from '../../src/errors/index.js';
import { startRedisServer } from '../../src/localdev/index.js';
import { createLogger, silentLogger } from '../../src/log/index.js';
import { startService } from '../../src/main.js';
import { createMetrics } from '../../src/metrics/index.js';
import { createQueues, retryFailed, runOnDemand, startWorker, STORE_JOB_OPTIONS, storeShardName, type Runner, type Track } from '../../src/workers/index.js';
import { testQueues } from './helpers.js';
import { testServiceEnv } from './service-fixture.js';

describe('store queue', () => {
  it('keeps a poison job in the failed set, counts it, and runs it again on an operator retry', async () => {
    const { prefix, consumer, queues } = await testQueues(1);
    const metrics = createMetrics({ defaultMetrics: false });
    let healed = false;
    const runs: boolean[] = [];
    const worker = startWorker<{ n: number }, string>({
      name: storeShardName(0),
      connection: consumer,
      prefix,
      concurrency: 1,
      logger: silentLogger(),
      metrics,
      process: () => {
        runs.push(healed);
        if (!healed) return Promise.reject(new AppError(ErrorCode.Corrupt, 'archive page damaged'));
        return Promise.resolve('stored');
      },
    });
    onTestFinished(() => worker.close());
    const shard = queues.store.shards[0]!;
    await shard.add('store', { n: 1 } as never, { ...STORE_JOB_OPTIONS, jobId: 's-poison' });
    await expect.poll(() => queues.store.getFailedCount(), { timeout: 10_000 }).toBe(1);
    expect(runs).toEqual([false]); // a permanent error is not retried with backoff
    const failed = await shard.getFailed();
    expect(failed[0]?.failedReason).toMatch(/corrupt: archive page damaged/);
    expect(await metrics.registry.getSingleMetricAsString('sealpost_failed_jobs_total')).toMatch(/queue="store-s0"} 1/);

    healed = true;
    expect(await retryFailed(shard)).toBe(1);
    await expect.poll(() => queues.store.getFailedCount(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => runs.length, { timeout: 10_000 }).toBe(2);
    expect(runs).toEqual([false, true]);
  });
});

describe('Redis eviction policy at start', () => {
  it('refuses a Redis that may evict keys in strict mode, and warns otherwise', async () => {
    const redis = await startRedisServer({ maxmemoryPolicy: 'allkeys-lru' });
    onTestFinished(() => redis.stop());
    const se = await testServiceEnv({ REDIS_URL: redis.url });
    await expect(startService(loadConfig({ ...se.env, SEALPOST_STRICT: 'true' }), { ops: false, logger: silentLogger() })).rejects.toMatchObject({
      code: ErrorCode.Config,
      message: expect.stringMatching(/maxmemory-policy is allkeys-lru/) as unknown,
    });
    let logged = '';
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((logged += chunk.toString()), done()) });
    const service = await startService(loadConfig(se.env), { ops: false, logger: createLogger({ level: 'warn', destination: sink }) });
    await service.stop();
    expect(logged).toMatch(/queued jobs may be evicted/);
  });
});

describe('shard workers on demand (serve, issue 16)', () => {
  it('starts a worker for a job added here, for one added elsewhere or left before its start, and closes it when idle', async () => {
    const { prefix, producer, consumer, queues } = await testQueues(1);
    const mine = queues.store.shards[0]!;
    const elsewhere = createQueues(producer, prefix, 1); // another process's producer of the same queue
    onTestFinished(() => elsewhere.close());
    const done: string[] = [];
    let starts = 0;
    let closes = 0;
    const start = (track: Track): Runner => {
      starts++;
      const worker = startWorker<{ n: number }, string>({
        name: storeShardName(0),
        connection: consumer,
        prefix,
        concurrency: 1,
        logger: silentLogger(),
        process: (job) => {
          track.begin();
          done.push(job.id ?? '');
          track.end();
          return Promise.resolve('ok');
        },
      });
      return {
        close: async () => {
          await worker.close();
          closes++;
        },
      };
    };
    const options = { storeQueue: mine, deliverQueue: mine, idleMs: 300, pollMs: 400 };
    await elsewhere.store.shards[0]!.add('store', { n: 0 } as never, { ...STORE_JOB_OPTIONS, jobId: 'left-before' });
    const runner = runOnDemand(storeShardName(0), mine, start, options, silentLogger());
    onTestFinished(() => runner.close());
    await expect.poll(() => done, { timeout: 10_000 }).toEqual(['left-before']);
    await expect.poll(() => closes, { timeout: 10_000 }).toBe(1);

    await mine.add('store', { n: 1 } as never, { ...STORE_JOB_OPTIONS, jobId: 'added-here' });
    expect(starts).toBe(2); // at once, on the queue's own 'waiting' event
    await expect.poll(() => done, { timeout: 10_000 }).toEqual(['left-before', 'added-here']);
    await expect.poll(() => closes, { timeout: 10_000 }).toBe(2);

    await elsewhere.store.shards[0]!.add('store', { n: 2 } as never, { ...STORE_JOB_OPTIONS, jobId: 'added-elsewhere' });
    await expect.poll(() => done, { timeout: 10_000 }).toEqual(['left-before', 'added-here', 'added-elsewhere']);
    expect(starts).toBe(3);
    await runner.close();
    expect(closes).toBe(3);
  });
});
