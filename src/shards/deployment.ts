// What every process of one deployment (one Redis, one queue prefix) must agree on, checked at
// start (issue 15): the shard count (every user maps to the same shard everywhere), the master key
// (a node taking over a shard must open its archives; the request bus MAC comes from it), and the
// topology: one `sealpost serve` owning every shard of its data dir, or `sealpost ingest` and
// `sealpost worker` nodes under leases, never both (a serve takes no leases, so a worker beside
// it would write the same shards). A process that disagrees refuses to start and says what to set.
import { AppError, ErrorCode } from '../errors/index.js';
import type { LeaseRedis } from './lease.js';

export type DeploymentRole = 'serve' | 'worker' | 'ingest';

// KEYS: shards, master, serve, workers. ARGV: count, master check, role, root id, ttl ms.
// Returns {code, detail}: 0 ok; 1 count differs; 2 master differs; 3 a serve of another root runs;
// 4 a serve runs (worker); 5 workers run (serve).
const CLAIM = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local count = redis.call('GET', KEYS[1])
if count ~= ARGV[1] then return {1, count} end
redis.call('SET', KEYS[2], ARGV[2], 'NX')
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {2, ''} end
local serve = redis.call('GET', KEYS[3])
if ARGV[3] == 'serve' then
  if serve and serve ~= ARGV[4] then return {3, serve} end
  local w = redis.call('GET', KEYS[4])
  if w then return {5, w} end
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
elseif ARGV[3] == 'worker' then
  if serve then return {4, serve} end
  redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[5])
elseif serve then return {4, serve} end
return {0, ''}`;

/** `<prefix>:{deployment}:…`, one hash slot. */
export function deploymentKeys(prefix: string): [string, string, string, string] {
  const tag = `${prefix}:{deployment}`;
  return [`${tag}:shards`, `${tag}:master`, `${tag}:serve`, `${tag}:workers`];
}

export interface DeploymentClaim {
  role: DeploymentRole;
  /** This data root's id (serve, worker). */
  rootId: string;
  count: number;
  /** A keyed hash of the master key (stores' masterCheck): equal keys, equal checks. */
  masterCheck: string;
  /** How long the serve/worker mark lives without a renewal. */
  ttlMs: number;
}

/** Checks the deployment and marks this process's role; renew the mark with the same call. */
export async function claimDeployment(redis: LeaseRedis, prefix: string, c: DeploymentClaim): Promise<void> {
  const r = (await redis.eval(CLAIM, 4, ...deploymentKeys(prefix), c.count, c.masterCheck, c.role, c.rootId, c.ttlMs)) as [number, string | null];
  const [code, detail] = r;
  const where = `queue prefix ${JSON.stringify(prefix)} on this Redis`;
  if (code === 0) return;
  if (code === 1)
    throw new AppError(ErrorCode.Config, `${where} runs ${String(detail)} shards; this process has SEALPOST_SHARD_COUNT=${c.count}: set it to ${String(detail)} (every process of a deployment maps users alike)`);
  if (code === 2)
    throw new AppError(ErrorCode.WrongKey, `this process's master key is not the one of the other processes of ${where}: give every process the same SEALPOST_MASTER_KEY or SEALPOST_MASTER_KEY_FILE`);
  if (code === 3)
    throw new AppError(
      ErrorCode.Config,
      `a \`sealpost serve\` on another data dir (id ${String(detail)}) already serves ${where}; this one (id ${c.rootId}) would split users' archives and keys across disks. ` +
        'Run one `sealpost serve`, or `sealpost ingest` plus `sealpost worker` nodes (README "Scaling out"), or give this one its own SEALPOST_QUEUE_PREFIX and vault account',
    );
  if (code === 4)
    throw new AppError(
      ErrorCode.Config,
      `a \`sealpost serve\` (data dir id ${String(detail)}) owns every shard of ${where}; \`sealpost ${c.role}\` runs only beside \`sealpost worker\` nodes: stop the serve and run \`sealpost ingest\` plus \`sealpost worker\` (README "Scaling out"), or give this one its own SEALPOST_QUEUE_PREFIX`,
    );
  throw new AppError(
    ErrorCode.Config,
    `\`sealpost worker\` nodes (one is ${String(detail)}) own the shards of ${where}; a \`sealpost serve\` would write the same shards: stop them first, or run \`sealpost ingest\` beside them`,
  );
}
