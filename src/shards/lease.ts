// Shard leases in Redis (issue 15; README "Scaling out" says why Redis and not PostgreSQL). A lease
// is a key with a TTL naming its holder and epoch; the epoch comes from a per-shard counter, and
// each script touches only keys of one shard's hash tag, so it runs on Redis Cluster too. Redis
// may lose a lease on failover: safety does not rest on it but on the epoch fenced in the shard.

/** The one Redis call the lease store makes; the ioredis client (src/workers) fits it. */
export interface LeaseRedis {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export interface LeaseHolder {
  node: string;
  epoch: number;
}

export type RenewResult = 'renewed' | 'lost' | 'handover';

export interface LeaseStore {
  /** The new epoch when `node` got the shard's lease; undefined when another holds or is due it. */
  acquire(shard: number, node: string, ttlMs: number): Promise<number | undefined>;
  /** Extends the lease; `handover` when an operator asked for the shard to move (still renewed). */
  renew(shard: number, node: string, epoch: number, ttlMs: number): Promise<RenewResult>;
  /** Drops the lease if it is still `node`'s at `epoch`. */
  release(shard: number, node: string, epoch: number): Promise<void>;
  holder(shard: number): Promise<LeaseHolder | undefined>;
  /** The next acquire gets an epoch above `epoch` (the shard's fence saw it; Redis forgot). */
  raiseEpoch(shard: number, epoch: number): Promise<void>;
  /** Reserves the shard's next lease for `node` for `ttlMs` and asks its holder to let go. */
  requestHandover(shard: number, node: string, ttlMs: number): Promise<void>;
  /** The node a handover of `shard` waits for, if any. */
  handoverTarget(shard: number): Promise<string | undefined>;
}

// A node restarted under the same id (the same data root) takes its own lease back at once, with
// a new epoch: the fence refuses anything its earlier process might still try.
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ' ' then return false end
local to = redis.call('GET', KEYS[3])
if to and to ~= ARGV[1] then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
if to then redis.call('DEL', KEYS[3]) end
return epoch`;

const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local to = redis.call('GET', KEYS[3])
if to and to ~= ARGV[3] then return 2 end
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

const RAISE = `
local e = tonumber(redis.call('GET', KEYS[2]) or '0')
if e < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) end
return 1`;

const GET = `return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[3])}`;

const HANDOVER = `redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2]) return 1`;

/** Key names of shard `k`: `<prefix>:{s<k>}:…`, one hash slot per shard. */
export function leaseKeys(prefix: string, shard: number): [string, string, string] {
  const tag = `${prefix}:{s${shard}}`;
  return [`${tag}:lease`, `${tag}:epoch`, `${tag}:handover`];
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 100) throw new RangeError(`lease ttl: expected an integer >= 100 ms, got ${ttlMs}`);
}

export function redisLeaseStore(redis: LeaseRedis, prefix: string): LeaseStore {
  const run = (script: string, shard: number, ...args: (string | number)[]): Promise<unknown> =>
    redis.eval(script, 3, ...leaseKeys(prefix, shard), ...args);
  return {
    async acquire(shard, node, ttlMs) {
      checkTtl(ttlMs);
      const epoch = await run(ACQUIRE, shard, node, ttlMs);
      return typeof epoch === 'number' ? epoch : undefined;
    },
    async renew(shard, node, epoch, ttlMs) {
      checkTtl(ttlMs);
      const r = await run(RENEW, shard, `${node} ${epoch}`, ttlMs, node);
      return r === 1 ? 'renewed' : r === 2 ? 'handover' : 'lost';
    },
    async release(shard, node, epoch) {
      await run(RELEASE, shard, `${node} ${epoch}`);
    },
    async holder(shard) {
      const r = (await run(GET, shard)) as [string | null, string | null];
      const m = typeof r[0] === 'string' ? /^(\S+) (\d+)$/.exec(r[0]) : null;
      return m === null ? undefined : { node: m[1] as string, epoch: Number(m[2]) };
    },
    async raiseEpoch(shard, epoch) {
      await run(RAISE, shard, epoch);
    },
    async requestHandover(shard, node, ttlMs) {
      checkTtl(ttlMs);
      await run(HANDOVER, shard, node, ttlMs);
    },
    async handoverTarget(shard) {
      const r = (await run(GET, shard)) as [string | null, string | null];
      return typeof r[1] === 'string' ? r[1] : undefined;
    },
  };
}
