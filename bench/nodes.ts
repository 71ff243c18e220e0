// `npm run bench -- --nodes 3`: store and drain rates with 1, 2, ... N worker nodes (issue 15), each
// node a `sealpost worker` process with its own data root holding its share of the shards, behind
// one `sealpost ingest`, on the local Redis and a private Prosody. The same workload each time:
// `--n` messages of 1 KiB (default 2,000) in batches from a few senders to `--recipients` offline
// recipients (default 40), then every recipient online, after an unmeasured round of `--warmup`
// messages (default 400: each process compiles its hot paths once). CPU per message of each
// process comes from /proc/<pid>/stat over each phase, printed two ways: all of the phase's CPU over
// its messages, and marginal: less what the process burns idle (measured over 5 s with nothing to
// do) times the phase's duration, since every node has a fixed idle cost (owner loop, lease
// renewals, registry announcements, XMPP connection, its shards' idle workers) that is no cost of
// a message. On a machine with few cores, more nodes add no cores: what to read is whether the
// marginal CPU per message stays flat as nodes are added (no coordination cost), and the idle CPU
// a node adds. Leases are 30 s here: on this loaded machine 10 s leases expired mid-run.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
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
  /** Messages of the unmeasured first round (default 400; 0: none). */
  warmup?: number | undefined;
  /** Length of the idle measurement in ms (default 5,000). */
  idleMs?: number | undefined;
}

interface Row {
  nodes: number;
  store_per_s: number;
  drain_per_s: number;
  /** CPU µs per message of each process (ingest, node0, node1, ...) and their sum: all the CPU of the phase over its messages. */
  store_cpu_us: Record<string, number>;
  drain_cpu_us: Record<string, number>;
  /** The same less what each process burns idle over the phase's duration: the cost of the messages. */
  store_marginal_us: Record<string, number>;
  drain_marginal_us: Record<string, number>;
  /** CPU ms per second of each process with nothing to do (measured after the warm-up, before the measured round). */
  idle_ms_per_s: Record<string, number>;
  /** The machine's load average (1, 5, 15 min) at the end of the round: other work shares the cores. */
  load: number[];
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
async function runWith(ctx: BenchContext, k: number, o: Required<Pick<NodesOptions, 'n' | 'recipients' | 'senders' | 'shards' | 'warmup' | 'idleMs'>>, attempt = ''): Promise<Row> {
  const prefix = `${ctx.env.SEALPOST_QUEUE_PREFIX as string}n${k}${attempt}`;
  const common = { SEALPOST_QUEUE_PREFIX: prefix, SEALPOST_SHARD_COUNT: String(o.shards), SEALPOST_LEASE_SECONDS: '30' };
  const procs: ServiceProcess[] = [];
  const redis = createRedis(ctx.local.redisUrl, 'producer');
  await redisReady(redis);
  try {
    // Node i's root holds the directories of shards s with s mod k = i, and it reaches only that root.
    for (let i = 0; i < k; i++) {
      const root = join(ctx.work, `n${k}${attempt}-node${i}`);
      const layout = openShardLayout(root, o.shards);
      for (let s = i; s < o.shards; s += k) mkdirSync(layout.dir(s), { recursive: true, mode: 0o700 });
      procs.push(await ctx.startService({ ...common, SEALPOST_DATA_DIR: root, SEALPOST_SHARD_ROOTS: root, SEALPOST_NODE_ID: `node${i}` }, [], 'worker'));
    }
    const leases = redisLeaseStore(redis, prefix);
    await until(async () => (await Promise.all(Array.from({ length: o.shards }, (_, s) => leases.holder(s)))).every((h) => h !== undefined), 'every shard held', 60_000, 100);
    const ingest = await ctx.startService({ ...common, SEALPOST_DATA_DIR: join(ctx.work, `n${k}${attempt}-ingest`) }, [], 'ingest');
    procs.push(ingest);
    const pids = { ingest: ingest.pid, ...Object.fromEntries(procs.slice(0, k).map((p, i) => [`node${i}`, p.pid])) };

    const agents = agentFactory(ctx.server, ctx.vault.jid, ctx.work);
    const recipients = await Promise.all(Array.from({ length: o.recipients }, (_, i) => ctx.account(`n${k}${attempt}r${i}`)));
    for (const r of recipients) await (await agents(r)).stop();
    const senderAccounts = await Promise.all(Array.from({ length: o.senders }, (_, i) => ctx.account(`n${k}${attempt}s${i}`)));

    /** `each` messages to every recipient while offline, then every recipient online until all arrived. */
    const round1 = async (each: number, label: string): Promise<{ n: number; storeMs: number; storeCpu: CpuSplit; drainMs: number; drainCpu: CpuSplit }> => {
      const n = each * o.recipients;
      const senders: Agent[] = [];
      for (const s of senderAccounts) senders.push(await agents(s));
      progress(`  ${k} node(s): ${label}storing ${n} messages to ${o.recipients} offline recipients ...`);
      let cpu = cpuMeter(pids);
      let t0 = performance.now();
      await Promise.all(recipients.map((r, i) => (senders[i % senders.length] as Agent).sendMany(r.jid, Array.from({ length: each }, () => randomBytes(1024)))));
      const storeMs = performance.now() - t0;
      const storeCpu = cpu();
      for (const s of senders) await s.stop();
      progress(`  ${k} node(s): ${label}draining ...`);
      let got = 0;
      cpu = cpuMeter(pids);
      t0 = performance.now();
      const online = await Promise.all(recipients.map((r) => agents(r, () => void got++)));
      await until(() => got >= n, `${n} messages at the recipients`, 600_000, 20);
      const drainMs = performance.now() - t0;
      const drainCpu = cpu();
      for (const a of online) await a.stop();
      return { n, storeMs, storeCpu, drainMs, drainCpu };
    };

    // A first, unmeasured round: each process compiles its hot paths (JIT) and opens its users'
    // state once, a cost per process and not per message.
    if (o.warmup > 0) await round1(Math.max(1, Math.ceil(o.warmup / o.recipients)), 'warm-up: ');
    // What each process burns with nothing to do (owner loop, lease renewals, announcements,
    // its shards' idle workers, timers), per second; after 3 s for the warm-up's last receipts.
    await new Promise((r) => setTimeout(r, 3000));
    const idleMeter = cpuMeter(pids);
    const idleT0 = performance.now();
    await new Promise((r) => setTimeout(r, o.idleMs));
    const idleSplit = idleMeter();
    const idleS = (performance.now() - idleT0) / 1000;
    const idle: Record<string, number> = {};
    for (const [name, ms] of Object.entries(idleSplit)) if (name !== 'clients') idle[name] = round(ms / idleS);

    const r = await round1(Math.ceil(o.n / o.recipients), '');
    const marginal = (split: CpuSplit, ms: number): CpuSplit => Object.fromEntries(Object.entries(split).map(([name, v]) => [name, name === 'clients' ? v : v - (idle[name] ?? 0) * (ms / 1000)]));
    return {
      nodes: k,
      store_per_s: round(perSecond(r.n, r.storeMs)),
      drain_per_s: round(perSecond(r.n, r.drainMs)),
      store_cpu_us: perMessage(r.storeCpu, r.n),
      drain_cpu_us: perMessage(r.drainCpu, r.n),
      store_marginal_us: perMessage(marginal(r.storeCpu, r.storeMs), r.n),
      drain_marginal_us: perMessage(marginal(r.drainCpu, r.drainMs), r.n),
      idle_ms_per_s: idle,
      load: loadavg().map((l) => round(l)),
    };
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
  const opts = { n: o.n ?? 2000, recipients: o.recipients ?? 40, senders: o.senders ?? 4, shards: o.shards ?? 12, warmup: o.warmup ?? 400, idleMs: o.idleMs ?? 5000 };
  const ctx = await setUp(o.out, { fromSources: o.fromSources === true });
  const rows: Row[] = [];
  try {
    progress(`bench --nodes ${o.nodes}: ${opts.n} messages of 1 KiB to ${opts.recipients} recipients, ${opts.shards} shards, ${availableParallelism()} cores`);
    for (let k = 1; k <= o.nodes; k++) {
      // On this loaded machine a round fails now and then (an agent's connect or an IQ timing
      // out): that count is run once more, on fresh accounts and a fresh prefix.
      const row = await runWith(ctx, k, opts).catch((err: unknown) => {
        progress(`  ${k} node(s): failed (${(err as Error).message.slice(0, 200)}); once more`);
        return runWith(ctx, k, opts, 'b');
      });
      progress(`  ${k} node(s): ${JSON.stringify(row)}`);
      rows.push(row);
    }
  } finally {
    await ctx.close();
  }
  const result = { ...opts, cores: availableParallelism(), rows };
  writeFileSync(join(ctx.out, 'nodes.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(`${opts.n} messages of 1 KiB (after ${opts.warmup} unmeasured), ${opts.recipients} recipients, ${opts.shards} shards, ${result.cores} cores\n`);
  process.stdout.write(`service CPU µs/msg: all of the phase's CPU / messages, and marginal (less each process's idle CPU over the phase)\n`);
  process.stdout.write(`nodes  store/s  drain/s  stored all | marginal  delivered all | marginal  idle ms/s  load\n`);
  for (const r of rows) {
    const idle = Object.values(r.idle_ms_per_s).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `${String(r.nodes).padStart(5)}  ${String(r.store_per_s).padStart(7)}  ${String(r.drain_per_s).padStart(7)}  ${String(r.store_cpu_us.service).padStart(10)} | ${String(r.store_marginal_us.service).padEnd(8)}  ${String(r.drain_cpu_us.service).padStart(13)} | ${String(r.drain_marginal_us.service).padEnd(8)}  ${String(round(idle)).padStart(9)}  ${r.load[0]}\n`,
    );
    process.stdout.write(`       stored, marginal:    ${cpuCell(r.store_marginal_us, r.nodes)}; agents ${r.store_cpu_us.agents}\n`);
    process.stdout.write(`       delivered, marginal: ${cpuCell(r.drain_marginal_us, r.nodes)}; agents ${r.drain_cpu_us.agents}\n`);
    process.stdout.write(`       idle ms/s:           ${cpuCell(r.idle_ms_per_s, r.nodes).replace(/, sum \S+$/, '')}\n`);
  }
}
