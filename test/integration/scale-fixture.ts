// The scale-out topology as OS processes (issue 15, README "Scaling out"): a real 3-master Redis
// Cluster and a private Prosody, one `sealpost ingest` and N `sealpost worker` nodes, each node
// with its own data root and able to reach the others' shard directories (standing in for volumes
// re-attached after a node dies). It reads the leases to see who owns what and, at the end, every
// shard's fence write log. Cleanup is tied to the running test.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { startProsody, startRedisCluster, type ProsodyHandle, type RedisClusterHandle } from '../../src/localdev/index.js';
import { moveShardChecked, nodeRegistry, presentShards, redisLeaseStore, shardWriteLog, type EpochWrites, type LeaseHolder, type LeaseStore } from '../../src/shards/index.js';
import { initSodium } from '../../src/keys/index.js';
import { deriveDeploymentKeys } from '../../src/stores/index.js';
import { createRedis, redisReady, type Redis } from '../../src/workers/index.js';
import { accountMaker, roleProcess, sleep, waitUntil, type RoleProcess } from './fault-fixture.js';

export interface ScaleOptions {
  nodes: number;
  shardCount: number;
  leaseSeconds: number;
}

export interface ScaleNode {
  readonly id: string;
  /** Its own data root (`<root>/shards/<k>` for the shards that live there). */
  readonly root: string;
  readonly proc: RoleProcess;
  /** Shards whose directory lives in this node's root now. */
  home(): number[];
}

export interface ScaleTopology {
  readonly prosody: ProsodyHandle;
  readonly cluster: RedisClusterHandle;
  readonly vault: string;
  readonly prefix: string;
  readonly options: ScaleOptions;
  readonly ingest: RoleProcess;
  readonly nodes: readonly ScaleNode[];
  /** A cluster client of the test's own (lease reads). */
  readonly redis: Redis;
  readonly leases: LeaseStore;
  /** A new account on the private Prosody. */
  account(prefix: string): Promise<{ username: string; password: string; jid: string }>;
  /** The holder of every shard now. */
  holders(): Promise<(LeaseHolder | undefined)[]>;
  /** Waits until every shard exists and is held, each by the node whose root holds it (moving strays home). */
  balance(timeoutMs: number): Promise<void>;
  /** Every shard's fence write log, read from the root holding its directory (nodes stopped first). */
  writeLogs(): { shard: number; roots: string[]; log: EpochWrites[] }[];
}

/** Starts the cluster, Prosody, the worker nodes and the ingest; everything stops when the test ends. */
export async function startScaleTopology(o: ScaleOptions): Promise<ScaleTopology> {
  const [cluster, prosody] = await Promise.all([startRedisCluster({ masters: 3 }), startProsody({ smacksHibernationSeconds: 10 })]);
  onTestFinished(async () => {
    await prosody.stop();
    await cluster.stop();
  });
  const account = accountMaker(prosody);
  const vault = await account('vault');
  const base = mkdtempSync(join(tmpdir(), 'sealpost-scale-'));
  onTestFinished(() => {
    if (process.env.SEALPOST_TEST_KEEP === undefined) rmSync(base, { recursive: true, force: true });
    else process.stderr.write(`kept ${base}\n`);
  });
  const masterKey = randomBytes(32);
  await initSodium();
  // The node registry's MAC key, as every process of the deployment derives it from the master key.
  const registryKey = deriveDeploymentKeys(new Uint8Array(masterKey)).nodeRegistry;
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const common: Record<string, string> = {
    SEALPOST_XMPP_SERVICE: prosody.service,
    SEALPOST_XMPP_DOMAIN: prosody.domain,
    SEALPOST_VAULT_USER: vault.username,
    SEALPOST_VAULT_PASSWORD: vault.password,
    SEALPOST_ALLOWED_DOMAINS: prosody.domain,
    REDIS_URL: cluster.urls[0] as string,
    SEALPOST_REDIS_CLUSTER: 'true',
    SEALPOST_QUEUE_PREFIX: prefix,
    SEALPOST_MASTER_KEY: masterKey.toString('base64'),
    SEALPOST_HTTP_PORT: '0',
    SEALPOST_SENDER_RATE: '1000000',
    SEALPOST_SHARD_COUNT: String(o.shardCount),
    SEALPOST_LEASE_SECONDS: String(o.leaseSeconds),
    // Nodes' log level (debug to follow one device's deliveries in a kept run's logs).
    SEALPOST_LOG_LEVEL: process.env.SEALPOST_SCALE_LOG_LEVEL ?? 'info',
  };

  // Each node has its own root and reaches the others' (the volumes it would re-attach). A new
  // shard's directory is created in the root of the node that first takes it.
  const roots = Array.from({ length: o.nodes }, (_, i) => join(base, `node${i}`));
  const nodes: ScaleNode[] = roots.map((root, i) => {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const others = roots.filter((_, j) => j !== i);
    const env = { ...common, SEALPOST_DATA_DIR: root, SEALPOST_SHARD_ROOTS: [root, ...others].join(','), SEALPOST_NODE_ID: `node${i}` };
    return { id: `node${i}`, root, proc: roleProcess('worker', env, root), home: () => presentShards(join(root, 'shards'), o.shardCount) };
  });
  const ingestDir = join(base, 'ingest');
  mkdirSync(ingestDir, { recursive: true });
  const ingest = roleProcess('ingest', { ...common, SEALPOST_DATA_DIR: ingestDir }, ingestDir);

  const redis = createRedis(cluster.urls[0] as string, 'producer', { cluster: true });
  await redisReady(redis, 10_000);
  onTestFinished(() => redis.quit().then(() => undefined, () => undefined));
  const leases = redisLeaseStore(redis, prefix);
  const holders = (): Promise<(LeaseHolder | undefined)[]> => Promise.all(Array.from({ length: o.shardCount }, (_, k) => leases.holder(k)));

  // Started together, so the nodes share the new shards (none has run a lease time alone).
  await Promise.all(nodes.map((n) => n.proc.start()));
  await ingest.start();

  return {
    prosody,
    cluster,
    vault: vault.jid,
    prefix,
    options: o,
    ingest,
    nodes,
    redis,
    leases,
    account,
    holders,
    async balance(timeoutMs) {
      const registry = nodeRegistry(redis, prefix, registryKey);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = await holders();
        const homed = nodes.flatMap((n) => n.home());
        const wrong = nodes.flatMap((n) => n.home().filter((k) => now[k]?.node !== n.id).map((k) => ({ k, to: n.id })));
        if (wrong.length === 0 && homed.length === o.shardCount && now.every((h) => h !== undefined)) return;
        if (Date.now() > deadline) throw new Error(`shards not balanced within ${timeoutMs} ms (${homed.length} of ${o.shardCount} created): ${wrong.map((w) => `${w.k}→${w.to} (held by ${now[w.k]?.node ?? 'none'})`).join(', ')}`);
        // A shard held elsewhere is moved home, as an operator would (`sealpost shard move`).
        await Promise.all(
          wrong
            .filter((w) => now[w.k] !== undefined)
            .map((w) => moveShardChecked({ redis, prefix, leases, registry, shard: w.k, to: w.to, timeoutMs: 20_000 }).catch(() => undefined)),
        );
        await sleep(200);
      }
    },
    writeLogs() {
      return Array.from({ length: o.shardCount }, (_, shard) => {
        const where = roots.filter((r) => existsSync(join(r, 'shards', String(shard), 'fence.db')));
        const dir = join(where[0] ?? (roots[0] as string), 'shards', String(shard));
        return { shard, roots: where, log: where.length === 0 ? [] : shardWriteLog({ shard, dir, masterKey: new Uint8Array(masterKey), cipher: 'chacha20' }) };
      });
    },
  };
}

/**
 * Polls until no shard of `shards` is held by `from` any more (with `byOthers`, until each is held
 * by another node); resolves with the ms it took from `since`.
 */
export async function takenOver(t: ScaleTopology, from: string, shards: readonly number[], since: number, timeoutMs: number, byOthers = true): Promise<number> {
  let last: (LeaseHolder | undefined)[] = [];
  await waitUntil(`${from}'s leases gone${byOthers ? ' and taken over' : ''}`, async () => {
    last = await t.holders();
    return shards.every((k) => last[k]?.node !== from && (!byOthers || last[k] !== undefined));
  }, timeoutMs, () => shards.map((k) => `${k}: ${last[k] === undefined ? 'free' : `${last[k]?.node}@${last[k]?.epoch}`}`).join(', '));
  return Date.now() - since;
}
