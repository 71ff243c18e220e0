// Local services for tests, the demo and developers: a Redis (found or started) and a private
// Prosody (installed when missing and root, configured in a temp dir, started, accounts on demand).
// Everything started here is stopped and removed on exit, also on failures and signals.
import { silentLogger, type Logger } from '../log/index.js';
import { findRedis, type RedisServerHandle } from './redis.js';
import { startProsody, type ProsodyHandle, type ProsodyOptions } from './prosody.js';

export { disposeAllSync } from './cleanup.js';
export { ensureProsodyInstalled, stopSystemService, type ProsodyBinaries } from './prosody-install.js';
export { PROSODY_MODULES, renderProsodyConfig, type ProsodyConfigInput } from './prosody-config.js';
export { startProsody, type AccountMethod, type ProsodyHandle, type ProsodyOptions } from './prosody.js';
export {
  DEFAULT_REDIS_URL,
  findRedis,
  pingRedis,
  redactUrl,
  startRedisServer,
  type FoundRedis,
  type RedisServerHandle,
  type RedisServerOptions,
} from './redis.js';
export { startRedisCluster, type RedisClusterHandle } from './redis-cluster.js';
export { registerInBand, type InBandRegistration } from './inband.js';
export { freePort, portAnswers, which } from './proc.js';

export interface LocalServices {
  /** Redis to use: REDIS_URL if it answers, else a private redis-server's URL. */
  redisUrl: string;
  /** The private redis-server, when one had to be started. */
  redisServer: RedisServerHandle | undefined;
  prosody: ProsodyHandle;
  /** Stops what was started here (Prosody, private Redis) and removes their temp dirs. */
  stop(): Promise<void>;
}

export interface LocalServicesOptions extends ProsodyOptions {
  /** Overrides REDIS_URL. */
  redisUrl?: string;
  logger?: Logger;
}

/** Finds or starts Redis and starts a private Prosody; both in parallel. */
export async function ensureLocalServices(options: LocalServicesOptions = {}): Promise<LocalServices> {
  const logger = options.logger ?? silentLogger();
  const [redis, prosody] = await Promise.allSettled([
    findRedis({ ...(options.redisUrl === undefined ? {} : { url: options.redisUrl }), logger }),
    startProsody({ ...options, logger }),
  ]);
  if (redis.status === 'rejected' || prosody.status === 'rejected') {
    if (redis.status === 'fulfilled') await redis.value.server?.stop();
    if (prosody.status === 'fulfilled') await prosody.value.stop();
    throw redis.status === 'rejected' ? redis.reason : (prosody as PromiseRejectedResult).reason;
  }
  const server = redis.value.server;
  return {
    redisUrl: redis.value.url,
    redisServer: server,
    prosody: prosody.value,
    async stop() {
      await Promise.all([prosody.value.stop(), server?.stop()]);
    },
  };
}
