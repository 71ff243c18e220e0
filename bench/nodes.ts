// `npm run bench -- --nodes 3`: store and drain rates with 1, 2, ... N worker nodes (issue 15), each
// node a `sealpost worker` process with its own data root holding its share of the shards, behind
// one `sealpost ingest`, on the local Redis and a private Prosody. The same workload each time:
// `--n` messages of 1 KiB (default 2,000) in batches from a few senders to `--recipients` offline
// recipients (default 40), then every recipient online. CPU per message of each process comes
// from /proc/<pid>/stat over each phase. On a machine with few cores, more nodes add no cores: what
// to read is whether the CPU per message stays flat as nodes are added (no coordination cost).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Agent } from '../src/agent/index.js';
import { openShardLayout, redisLeaseStore } from '../src/shards/index.js';
import { createRedis, redisReady } from '../src/workers/index.js';
import { cpuMeter, type CpuSplit } from './lib/cpu.js';
import { agentFactory } from './lib/sealpost-path.js';
import type { ServiceProcess } from './lib/service-proc.js';
import { progress, setUp, type BenchContext } from './lib/setup.js';
import { perSecond, round, until } from './lib/stats.js';

export interface NodesOptions {
  out: string;
  json: boolean;
  fromSources?: boolean;
  /** Largest node count; every count from 1 up to it is run. */
  nodes: number;
  n?: number | undefined;
  recipients?: number | undefined;
  senders?: number | undefined;
  shards?: number | undefined;
}

interface Row {
  nodes: number;
  store_per_s: number;
  drain_per_s: number;
  /** CPU µs per message of each process (ingest, node0, node1, ...) and their sum. */
  store_cpu_us: Record<string, number>;
  drain_cpu_us: Record<string, number>;
}

const perMessage = (split: CpuSplit, n: number): Record<string, number> => {
  const out: Record<string, number> = {};
  let sum = 0;
  for (const [k, ms] of Object.entries(split)) {
    if (k === 'clients') continue;
    out[k] = Math.round((ms * 1000) / n);
    sum += out[k];
  }
  return { ...out, service: sum, agents: Math.round(((split.clients ?? Number.NaN) * 1000) / n) };
};

/** One deployment with `k` worker nodes; the same workload; everything stopped after. */
async function runWith(ctx: BenchContext, k: number, o: Required<Pick<NodesOptions, 'n' | 'recipients' | 'senders' | 'shards'>>): Promise<Row> {
  const prefix = `${ctx.env.SEALPOST_QUEUE_PREFIX as string}n${k}`;
  const common = { SEALPOST_QUEUE_PREFIX: prefix, SEALPOST_SHARD_COUNT: String(o.shards), SEALPOST_LEASE_SECONDS: '10' };
  const procs: ServiceProcess[] = [];
  const redis = createRedis(ctx.local.redisUrl, 'producer');
  await redisReady(redis);
  try {
    // Node i's root holds the directories of shards s with s mod k = i, and it reaches only that root.
    for (let i = 0; i < k; i++) {
      const root = join(ctx.work, `n${k}-node${i}`);
      const layout = openShardLayout(root, o.shards);
      for (let s = i; s < o.shards; s += k) mkdirSync(layout.dir(s), { recursive: true, mode: 0o700 });
      procs.push(await ctx.startService({ ...common, SEALPOST_DATA_DIR: root, SEALPOST_SHARD_ROOTS: root, SEALPOST_NODE_ID: `node${i}` }, [], 'worker'));
    }
    const leases = redisLeaseStore(redis, prefix);
    await until(async () => (await Promise.all(Array.from({ length: o.shards }, (_, s) => leases.holder(s)))).every((h) => h !== undefined), 'every shard held', 60_000, 100);
    const ingest = await ctx.startService({ ...common, SEALPOST_DATA_DIR: join(ctx.work, `n${k}-ingest`) }, [], 'ingest');
    procs.push(ingest);
    const pids = { ingest: ingest.pid, ...Object.fromEntries(procs.slice(0, k).map((p, i) => [`node${i}`, p.pid])) };

    const agents = agentFactory(ctx.server, ctx.vault.jid, ctx.work);
    const recipients = await Promise.all(Array.from({ length: o.recipients }, (_, i) => ctx.account(`n${k}r${i}`)));
    for (const r of recipients) await (await agents(r)).stop();
    const senders: Agent[] = [];
    for (let i = 0; i < o.senders; i++) senders.push(await agents(await ctx.account(`n${k}s${i}`)));
    const each = Math.ceil(o.n / o.recipients);
    const n = each * o.recipients;

    progress(`  ${k} node(s): storing ${n} messages to ${o.recipients} offline recipients ...`);
    let cpu = cpuMeter(pids);
    let t0 = performance.now();
    await Promise.all(recipients.map((r, i) => (senders[i % senders.length] as Agent).sendMany(r.jid, Array.from({ length: each }, () => randomBytes(1024)))));
    const storeMs = performance.now() - t0;
    const storeCpu = cpu();
    for (const s of senders) await s.stop();

    progress(`  ${k} node(s): draining ...`);
    let got = 0;
    cpu = cpuMeter(pids);
    t0 = performance.now();
    const online = await Promise.all(recipients.map((r) => agents(r, () => void got++)));
    await until(() => got >= n, `${n} messages at the recipients`, 600_000, 20);
    const drainMs = performance.now() - t0;
    const drainCpu = cpu();
    for (const a of online) await a.stop();
    return { nodes: k, store_per_s: round(perSecond(n, storeMs)), drain_per_s: round(perSecond(n, drainMs)), store_cpu_us: perMessage(storeCpu, n), drain_cpu_us: perMessage(drainCpu, n) };
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    await redis.quit();
  }
}

const cpuCell = (r: Record<string, number>, k: number): string =>
  [`ingest ${r.ingest ?? '?'}`, ...Array.from({ length: k }, (_, i) => `node${i} ${r[`node${i}`] ?? '?'}`), `sum ${r.service ?? '?'}`].join(', ');

export async function runNodesBench(o: NodesOptions): Promise<void> {
  const opts = { n: o.n ?? 2000, recipients: o.recipients ?? 40, senders: o.senders ?? 4, shards: o.shards ?? 12 };
  const ctx = await setUp(o.out, { fromSources: o.fromSources === true });
  const rows: Row[] = [];
  try {
    progress(`bench --nodes ${o.nodes}: ${opts.n} messages of 1 KiB to ${opts.recipients} recipients, ${opts.shards} shards, ${availableParallelism()} cores`);
    for (let k = 1; k <= o.nodes; k++) rows.push(await runWith(ctx, k, opts));
  } finally {
    await ctx.close();
  }
  const result = { ...opts, cores: availableParallelism(), rows };
  writeFileSync(join(ctx.out, 'nodes.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(`${opts.n} messages of 1 KiB, ${opts.recipients} recipients, ${opts.shards} shards, ${result.cores} cores\n`);
  process.stdout.write(`nodes  store/s  drain/s  service CPU µs/msg stored | delivered (per process)\n`);
  for (const r of rows) {
    process.stdout.write(`${String(r.nodes).padStart(5)}  ${String(r.store_per_s).padStart(7)}  ${String(r.drain_per_s).padStart(7)}  ${r.store_cpu_us.service} | ${r.drain_cpu_us.service}\n`);
    process.stdout.write(`       stored:    ${cpuCell(r.store_cpu_us, r.nodes)}; agents ${r.store_cpu_us.agents}\n`);
    process.stdout.write(`       delivered: ${cpuCell(r.drain_cpu_us, r.nodes)}; agents ${r.drain_cpu_us.agents}\n`);
  }
}
