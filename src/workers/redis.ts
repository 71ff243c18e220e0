// The service's two Redis connections (BullMQ's "Connections" guide): a producer that fails fast
// (queues, rate limits, presence) and a blocking one for workers. Both are ready, and Redis's
// eviction policy checked, before start-up goes on; a failure closes both.
import type { RedisSlice } from '../config/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { checkRedisPolicy, createRedis, redisReady, type Redis } from './bullmq.js';

export interface RedisConnections {
  producer: Redis;
  worker: Redis;
  /** Quits both (after everything using them has closed). */
  close(): Promise<void>;
}

export async function connectRedis(slice: Pick<RedisSlice, 'url' | 'strict' | 'cluster'>, logger: Logger, readyMs = 10_000): Promise<RedisConnections> {
  const log = logger.child({ module: 'redis' });
  const producer = createRedis(slice.url, 'producer', { connectionName: 'sealpost:producer', cluster: slice.cluster });
  const worker = createRedis(slice.url, 'worker', { connectionName: 'sealpost:worker', cluster: slice.cluster });
  for (const r of [producer, worker]) r.on('error', (err: Error) => log.warn({ error: err.message }, 'redis connection error'));
  try {
    await redisReady(producer, readyMs);
    const policy = await checkRedisPolicy(producer).catch((err: unknown) => {
      log.warn({ error: (err as Error).message }, 'cannot check Redis maxmemory-policy');
      return undefined;
    });
    if (policy !== undefined && !policy.ok) {
      const text = `Redis maxmemory-policy is ${policy.maxmemoryPolicy}; queued jobs may be evicted (set noeviction)`;
      if (slice.strict) throw new AppError(ErrorCode.Config, text);
      log.warn({ maxmemoryPolicy: policy.maxmemoryPolicy }, text);
    }
  } catch (err) {
    producer.disconnect();
    worker.disconnect();
    throw err;
  }
  return {
    producer,
    worker,
    async close() {
      await Promise.all([producer.quit().catch(() => undefined), worker.quit().catch(() => undefined)]);
    },
  };
}
