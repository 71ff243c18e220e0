// One data root per deployment until a process owns shards under leases (issue 15): today an
// ingest answers history and key requests from its own data dir and a worker stores into its own,
// so processes on one Redis prefix with different data dirs split users across disks (200 sent,
// 100 delivered, empty history). The first process records its data root's id in Redis; a process
// with another data root refuses to start and says what to configure.
import { AppError, ErrorCode } from '../errors/index.js';
import type { LeaseRedis } from './lease.js';

const CLAIM = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

/** `<prefix>:{deployment}:data-root`. */
export function dataRootKey(prefix: string): string {
  return `${prefix}:{deployment}:data-root`;
}

/**
 * Records `rootId` as the deployment's data root, or refuses (AppError Config) when another data
 * root was recorded first under this prefix.
 */
export async function claimDataRoot(redis: LeaseRedis, prefix: string, rootId: string, dataDir: string): Promise<void> {
  const recorded = await redis.eval(CLAIM, 1, dataRootKey(prefix), rootId);
  if (recorded === rootId) return;
  throw new AppError(
    ErrorCode.Config,
    `another data dir (id ${String(recorded)}) already serves queue prefix ${JSON.stringify(prefix)} on this Redis; ` +
      `${dataDir} (id ${rootId}) would split users' archives and keys across disks. ` +
      'Run every process of this deployment (ingest and workers) on that same data dir ' +
      '(SEALPOST_DATA_DIR on a shared volume), or give this one its own SEALPOST_QUEUE_PREFIX and vault account',
  );
}
