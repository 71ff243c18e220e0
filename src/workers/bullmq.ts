// The one module importing bullmq and ioredis. Connection roles follow BullMQ's guide
// ("Connections", "Going to production", "Failing fast when Redis is down"): workers block and
// must retry forever (maxRetriesPerRequest: null); producers fail fast (no offline queue, few
// retries) so a submission gets an error instead of hanging. Redis must not evict keys
// (maxmemory-policy noeviction), or queued jobs vanish silently. On Redis Cluster (issue 15) the
// client is ioredis's Cluster, seeded with the URL's node; every key of ours carries a hash tag.
import type { Worker } from 'bullmq';
import { Cluster, Redis as SingleRedis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { AppError, ErrorCode } from '../errors/index.js';

export {
  Job,
  Queue,
  QueueEvents,
  UnrecoverableError,
  Worker,
  type ConnectionOptions,
  type JobsOptions,
  type Processor,
  type QueueOptions,
  type WorkerOptions,
} from 'bullmq';
/** A client of one Redis server or of a Redis Cluster; BullMQ and our scripts take either. */
export type Redis = SingleRedis | Cluster;

export type RedisRole = 'worker' | 'producer';

export interface CreateRedisOptions {
  /** Name shown in CLIENT LIST, e.g. `sealpost:ingest`. */
  connectionName?: string;
  /** Connect on first command instead of at once (default false). */
  lazyConnect?: boolean;
  /** The URL names one node of a Redis Cluster: connect to the cluster (default false). */
  cluster?: boolean;
}

/** Redis connection options for a role; exported so tests can assert the policy. */
export function redisOptionsFor(role: RedisRole, options: CreateRedisOptions = {}): RedisOptions {
  const common: RedisOptions = {
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    lazyConnect: options.lazyConnect ?? false,
    // Reconnect with capped backoff: 50 ms, 100 ms, ... up to 2 s.
    retryStrategy: (times: number) => Math.min(times * 50, 2000),
  };
  if (role === 'worker') return { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true };
  return { ...common, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 };
}

/**
 * An ioredis client for `url` with the role's policy. Pass it as `connection` to Queue (producer)
 * or Worker/QueueEvents (worker). The caller closes it (`quit()`) after closing what uses it.
 */
export function createRedis(url: string, role: RedisRole, options: CreateRedisOptions = {}): Redis {
  if (!/^rediss?:\/\//.test(url)) throw new AppError(ErrorCode.Config, 'createRedis: expected a redis:// or rediss:// URL');
  if (options.cluster !== true) return new SingleRedis(url, redisOptionsFor(role, options));
  const u = new URL(url);
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...perNode } = redisOptionsFor(role, options);
  const clusterOptions: ClusterOptions = {
    lazyConnect: lazyConnect ?? false,
    enableOfflineQueue: enableOfflineQueue ?? true,
    clusterRetryStrategy: retryStrategy ?? ((times: number) => Math.min(times * 50, 2000)),
    redisOptions: {
      ...perNode,
      ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
      ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
  return new Cluster([{ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || '6379') }], clusterOptions);
}

/**
 * Resolves once `redis` can take commands. Producers have no offline queue, so a command sent
 * before the connection is ready fails at once; call this after createRedis(url, 'producer').
 */
export async function redisReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') await redis.connect();
  if (redis.status === 'end') throw new AppError(ErrorCode.Unavailable, 'Redis connection already closed');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new AppError(ErrorCode.Unavailable, `Redis not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const onEnd = (): void => {
      cleanup();
      reject(new AppError(ErrorCode.Unavailable, 'Redis connection closed before it was ready'));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
    };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
    if (redis.status === 'ready') onReady();
  });
}

export interface RedisPolicy {
  maxmemoryPolicy: string;
  /** True when Redis will not evict keys (noeviction), as BullMQ requires. */
  ok: boolean;
}

/** Reads maxmemory-policy. Managed Redis that forbids CONFIG answers with AppError(Unavailable). */
export async function checkRedisPolicy(redis: Redis): Promise<RedisPolicy> {
  await redisReady(redis);
  let reply: unknown;
  try {
    reply = await redis.config('GET', 'maxmemory-policy');
  } catch (err) {
    throw new AppError(ErrorCode.Unavailable, 'cannot read Redis maxmemory-policy (CONFIG GET refused?)', { cause: err });
  }
  const policy = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : 'unknown';
  return { maxmemoryPolicy: policy, ok: policy === 'noeviction' };
}

/**
 * Closes a worker, then ends its stalled-job checker. BullMQ 5's checker arms its next timer after
 * an awaited Redis call without looking at `closing` again, so a close during that call (a start
 * step failing right after the workers started) left a timer of `stalledInterval` (30 s by
 * default) holding the process open; bullmq PR #1810 describes the race. This reaches two private
 * fields of Worker (checked against bullmq 5.81); without them it is a plain close.
 */
export async function closeWorker<D, R, N extends string>(worker: Worker<D, R, N>): Promise<void> {
  await worker.close();
  const w = worker as unknown as { stalledCheckerRunning?: boolean; stalledCheckStopper?: () => void };
  for (const deadline = Date.now() + 5000; w.stalledCheckerRunning === true && Date.now() < deadline; ) {
    w.stalledCheckStopper?.();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
