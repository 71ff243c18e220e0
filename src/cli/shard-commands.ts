// `sealpost shard list|move` (issue 15): where each shard lives and who owns it, and moving one on
// purpose (its owner pauses it, the target takes it at epoch + 1 and resumes it). Run with the
// service's environment (REDIS_URL, SEALPOST_QUEUE_PREFIX, SEALPOST_REDIS_CLUSTER, and the master
// key: node registry entries are checked with a key derived from it, and one without a valid MAC is
// ignored); it reads and writes only lease keys and never opens a shard. Exit codes: 0 done, 1 error, 2 usage,
// 3 unknown or silent node, 4 shard not held, 5 timeout, 6 node cannot reach the shard.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { configSlices, loadConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { listShards, moveShardChecked, nodeRegistry, redisLeaseStore, ShardMoveError, type MoveRefusal, type NodeRegistry } from '../shards/index.js';
import { deploymentKeys } from '../stores/index.js';
import { connectRedis } from '../workers/index.js';
import { print, table, type Output } from './output.js';

export const SHARD_EXIT: Readonly<Record<MoveRefusal, number>> = { 'unknown-node': 3, 'not-held': 4, timeout: 5, unreachable: 6 };

/** An error that ends the command with its own exit code (runCli reads `exitCode`). */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const whole = (label: string, max = Number.MAX_SAFE_INTEGER) => (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > max) throw new InvalidArgumentError(`${label}: expected a whole number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}`);
  return n;
};

async function withLeases<T>(fn: (o: { redis: Awaited<ReturnType<typeof connectRedis>>['producer']; prefix: string; registry: NodeRegistry }) => Promise<T>): Promise<T> {
  const { redis: slice, stores } = configSlices(loadConfig());
  const logger = createLogger({ level: process.env.SEALPOST_LOG_LEVEL ?? 'warn', destination: process.stderr });
  // The nodes' key, never a development key generated here (every entry would then be ignored).
  if (stores.masterKey === undefined && stores.masterKeyFile === undefined && !existsSync(join(stores.dataDir, 'master.key')))
    throw new ExitError('set SEALPOST_MASTER_KEY or SEALPOST_MASTER_KEY_FILE as the worker nodes have it: their registry entries are checked with a key derived from it', 1);
  const keys = await deploymentKeys(stores, logger);
  const redis = await connectRedis(slice, logger);
  try {
    return await fn({ redis: redis.producer, prefix: slice.prefix, registry: nodeRegistry(redis.producer, slice.prefix, keys.nodeRegistry) });
  } finally {
    await redis.close();
  }
}

const seconds = (ms: number | undefined): string => (ms === undefined ? '' : `${(ms / 1000).toFixed(1)} s`);

export function shardCommands(program: Command, out: Output): void {
  const shard = program.command('shard').description('shards of a multi-node deployment: owners, leases, moves');
  shard
    .command('list')
    .description('each shard: owner node, epoch, lease expiry, home root (the data roots holding its directory)')
    .option('--count <n>', 'shard count, when no node is running to announce it', whole('--count', 4096))
    .option('--json', 'print JSON')
    .action(async (flags: { count?: number; json?: boolean }) => {
      await withLeases(async ({ redis, prefix, registry }) => {
        const r = await listShards(redis, prefix, registry, flags.count);
        if (flags.json) {
          const at = (ms: number | undefined) => (ms === undefined ? null : new Date(r.now + ms).toISOString());
          const shards = r.rows.map((s) => ({ ...s, expiresAt: at(s.expiresInMs) }));
          out.result(JSON.stringify({ count: r.count, nodes: r.nodes.map((n) => ({ ...n, silentMs: r.now - n.seenAt })), ignoredEntries: r.ignored, shards }));
          return;
        }
        const rows = r.rows.map((s) => [s.shard, s.owner ?? '(none)', s.epoch, seconds(s.expiresInMs), s.home.join(' ') || '(no live node reaches it)', s.handoverTo === undefined ? '' : `to ${s.handoverTo}`]);
        table(out, ['shard', 'owner', 'epoch', 'expires in', 'home root', 'moving'], rows);
        const held = r.rows.filter((s) => s.owner !== undefined).length;
        out.info(`${r.count} shards, ${held} held; nodes: ${r.nodes.map((n) => `${n.node} (seen ${seconds(r.now - n.seenAt)} ago)`).join(', ') || 'none'}`);
        if (r.ignored > 0) out.info(`${r.ignored} node registry entr${r.ignored === 1 ? 'y' : 'ies'} without a valid MAC ignored (another master key, an older version, or written by someone else)`);
      });
    });
  shard
    .command('move')
    .description("move a shard to another node: its owner pauses it, the target takes it at epoch + 1 and resumes")
    .argument('<shard>', 'shard index', whole('shard'))
    .requiredOption('--to <node>', 'target node id (see `sealpost shard list`)')
    .option('--timeout <seconds>', 'how long to wait for the target to hold it', whole('--timeout'), 60)
    .option('--json', 'print JSON')
    .action(async (index: number, flags: { to: string; timeout: number; json?: boolean }) => {
      await withLeases(async ({ redis, prefix, registry }) => {
        const leases = redisLeaseStore(redis, prefix);
        try {
          const r = await moveShardChecked({ redis, prefix, leases, registry, shard: index, to: flags.to, timeoutMs: flags.timeout * 1000 });
          const record = { shard: index, from: r.from?.node ?? null, fromEpoch: r.from?.epoch ?? null, to: r.to.node, epoch: r.to.epoch, moved: r.moved };
          if (flags.json) print(out, true, record);
          else out.result(r.moved ? `shard ${index}: moved from ${record.from ?? '(none)'} (epoch ${record.fromEpoch ?? '-'}) to ${r.to.node} (epoch ${r.to.epoch})` : `shard ${index}: already held by ${r.to.node} (epoch ${r.to.epoch}); nothing to do`);
        } catch (err) {
          if (err instanceof ShardMoveError) throw new ExitError(`shard move: ${err.message}`, SHARD_EXIT[err.refusal]);
          throw err;
        }
      });
    });
}
