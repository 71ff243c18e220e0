// What the operator's `sealpost shard` commands do (issue 15): list every shard with its owner,
// epoch, lease expiry and home root (from the leases and the nodes' announcements), and move a
// shard after checking what would make the move hang: an unknown or silent target, a target that
// cannot reach the shard's directory, a shard nobody holds. Each refusal has its own code.
import { AppError, ErrorCode } from '../errors/index.js';
import { leaseKeys, type LeaseHolder, type LeaseRedis, type LeaseStore } from './lease.js';
import { moveShard } from './move.js';
import { isLive, type NodeRecord, type NodeRegistry } from './registry.js';

export interface ShardRow {
  shard: number;
  /** Lease holder and epoch; undefined when nobody holds it. */
  owner: string | undefined;
  epoch: number | undefined;
  /** ms until the lease expires in Redis (renewals push it on). */
  expiresInMs: number | undefined;
  /** `<root id>:<path>` of each data root (as its nodes announce it) that holds the shard's directory. */
  home: string[];
  /** A handover the shard waits for (an operator's move in progress). */
  handoverTo: string | undefined;
}

/** Why a move was refused: the CLI turns each into its own exit code. */
export type MoveRefusal = 'unknown-node' | 'not-held' | 'unreachable' | 'timeout';

export class ShardMoveError extends AppError {
  constructor(
    readonly refusal: MoveRefusal,
    message: string,
  ) {
    super(refusal === 'timeout' ? ErrorCode.Timeout : refusal === 'unknown-node' ? ErrorCode.NotFound : ErrorCode.Unavailable, message);
  }
}

const LEASE = `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[3])}`;

/** The shard count every live node announces; refused when they disagree or none is live. */
export function announcedCount(nodes: readonly NodeRecord[], now: number): number {
  const counts = new Set(nodes.filter((n) => isLive(n, now)).map((n) => n.count));
  if (counts.size > 1) throw new AppError(ErrorCode.Config, `worker nodes run with different shard counts (${[...counts].join(', ')}): set one SEALPOST_SHARD_COUNT everywhere`);
  const [count] = counts;
  if (count === undefined) throw new AppError(ErrorCode.Unavailable, 'no worker node is running (none announced itself within its lease time): start a `sealpost worker` or give the shard count');
  return count;
}

export async function listShards(redis: LeaseRedis, prefix: string, registry: NodeRegistry, count?: number): Promise<{ count: number; nodes: NodeRecord[]; now: number; rows: ShardRow[]; ignored: number }> {
  const { now, nodes, ignored } = await registry.list();
  const n = count ?? announcedCount(nodes, now);
  const rows: ShardRow[] = [];
  for (let shard = 0; shard < n; shard++) {
    const [value, pttl, handover] = (await redis.eval(LEASE, 3, ...leaseKeys(prefix, shard))) as [string | null, number, string | null];
    const m = value === null ? null : /^(\S+) (\d+)$/.exec(value);
    const home = nodes.flatMap((node) => node.roots.filter((r) => r.shards.includes(shard)).map((r) => `${r.id}:${r.path}`));
    rows.push({
      shard,
      owner: m?.[1],
      epoch: m === null || m === undefined ? undefined : Number(m[2]),
      expiresInMs: m === null || m === undefined || pttl < 0 ? undefined : pttl,
      home: [...new Set(home)].sort(),
      handoverTo: handover ?? undefined,
    });
  }
  return { count: n, nodes, now, rows, ignored };
}

const CANCEL = `if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end return 1`;

export interface CheckedMoveOptions {
  redis: LeaseRedis;
  prefix: string;
  leases: LeaseStore;
  registry: NodeRegistry;
  shard: number;
  to: string;
  timeoutMs: number;
  pollMs?: number;
}

/** Checks the target and the shard, then moves it (pause, hand over with epoch + 1, resume). */
export async function moveShardChecked(o: CheckedMoveOptions): Promise<{ from: LeaseHolder | undefined; to: LeaseHolder; moved: boolean }> {
  const { shard, to } = o;
  const { now, nodes } = await o.registry.list();
  const target = nodes.find((n) => n.node === to);
  const names = nodes.filter((n) => isLive(n, now)).map((n) => n.node);
  if (target === undefined || !isLive(target, now))
    throw new ShardMoveError(
      'unknown-node',
      `node ${to} ${target === undefined ? 'is unknown' : `has not announced itself for ${Math.round((now - target.seenAt) / 1000)} s`}; running nodes: ${names.length === 0 ? 'none' : names.join(', ')}`,
    );
  if (shard >= target.count) throw new ShardMoveError('unknown-node', `shard ${shard}: node ${to} runs ${target.count} shards (0..${target.count - 1})`);
  if (!target.roots.some((r) => r.shards.includes(shard)))
    throw new ShardMoveError(
      'unreachable',
      `node ${to} cannot reach shard ${shard}'s directory (its roots: ${target.roots.map((r) => r.path).join(', ') || 'none'}); attach or copy the shard's volume there first`,
    );
  const from = await o.leases.holder(shard);
  if (from === undefined)
    throw new ShardMoveError(
      'not-held',
      `shard ${shard} is not held by any node: there is no owner to pause (a node that reaches its directory takes it within the lease time)`,
    );
  if (from.node === to) return { from, to: from, moved: false };
  try {
    const r = await moveShard({ leases: o.leases, shard, to, timeoutMs: o.timeoutMs, ...(o.pollMs === undefined ? {} : { pollMs: o.pollMs }) });
    return { ...r, moved: true };
  } catch (err) {
    // The reservation would keep every other node off the shard: let whoever reaches it take it.
    await o.redis.eval(CANCEL, 3, ...leaseKeys(o.prefix, shard), to).catch(() => undefined);
    if (AppError.is(err, ErrorCode.Timeout)) throw new ShardMoveError('timeout', `${err.message} (move cancelled)`);
    throw err;
  }
}
