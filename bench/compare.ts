// `npm run bench`: sealpost against what an operator would use instead — the XMPP server's own
// offline storage — in one run, on one machine, against the same private Prosody (issue 9). N
// messages (default 2,000) of 1 KiB: store rate and drain rate of each path, presence → first
// message over 20 reconnects, the service's peak RSS (it runs as a child process), its CPU per
// stored and delivered message. `--runs 3` repeats it and reports every figure's median. Prints a
// table (or, with --json, one JSON object on stdout) and writes bench-out/compare.{json,svg}.
// `npm run bench -- --scale` runs the 100,000-pending RSS check instead (bench/scale.ts);
// `npm run bench -- --file` moves a 200 MiB file through the upload service (bench/file.ts);
// `npm run bench -- --nodes 3` runs 1, 2 and 3 worker nodes behind one ingest (bench/nodes.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { cryptoCost, relayFloor } from './lib/bounds.js';
import { renderChart } from './lib/chart.js';
import { cpuMeter, type CpuSplit } from './lib/cpu.js';
import { prosodyFirstDelivery, runProsodyPath } from './lib/prosody-path.js';
import type { PathResult, XmppAccount } from './lib/prosody-path.js';
import { agentFactory, firstDelivery, runSealpostPath } from './lib/sealpost-path.js';
import { progress, setUp, type BenchContext } from './lib/setup.js';
import { figure, medianOf, met, table, targetName, type Figures, type Target } from './lib/report.js';
import { percentile, round } from './lib/stats.js';
import { runFileBench } from './file.js';
import { runNodesBench } from './nodes.js';
import { runScale } from './scale.js';
import { SUBMIT_BATCH_ITEMS } from '../src/agent/submit-batch.js';
import { BATCH_MAX_COPIES } from '../src/workers/deliver-worker.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '20' },
    // Repeat the whole comparison and report the median of every figure (figures vary by ±30%).
    runs: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    // A file through the upload service instead (bench/file.ts): --mib sets its size (default 200).
    file: { type: 'boolean', default: false },
    mib: { type: 'string' },
    // Worker nodes (bench/nodes.ts): every count from 1 to this; --n, --recipients, --senders, --shards, --warmup.
    nodes: { type: 'string' },
    warmup: { type: 'string' },
    recipients: { type: 'string' },
    senders: { type: 'string' },
    shards: { type: 'string' },
    out: { type: 'string', default: 'bench-out' },
    users: { type: 'string' },
    pending: { type: 'string' },
    live: { type: 'string' },
    profile: { type: 'boolean', default: false },
    // Run the service from the sources through tsx instead of a build (its RSS then includes tsx).
    'from-sources': { type: 'boolean', default: false },
  },
});

const positive = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name}: expected a positive integer, got ${v}`);
  return n;
};

/** CPU µs per message of each process over a phase. */
function perMessage(split: CpuSplit | undefined, n: number): Record<string, number> {
  return Object.fromEntries(Object.entries(split ?? {}).map(([k, ms]) => [k, Math.round((ms * 1000) / n)]));
}

/** Issue 16's targets, checked on the median of the runs. */
const TARGETS: readonly Target[] = [
  { path: 'store_ratio', op: '>=', limit: 3 },
  { path: 'drain_ratio', op: '>=', limit: 0.8 },
  { path: 'first_delivery_ms_p99', op: '<=', limit: 20 },
  { path: 'service_rss_mb', op: '<=', limit: 160 },
  { path: 'service_cpu_us.stored', op: '<=', limit: 400 },
  { path: 'service_cpu_us.delivered', op: '<=', limit: 150 },
  { path: 'bounds.seal_us', op: '<=', limit: 300 },
  { path: 'bounds.open_us', op: '<=', limit: 150 },
];

interface Run {
  figures: Figures;
  prosody: PathResult;
  sealpost: PathResult;
}

/** One full comparison on a fresh service process (the same data dir: one per queue prefix) and fresh accounts. */
async function runOnce(ctx: BenchContext, n: number, rounds: number): Promise<Run> {
  // --profile: the service writes a V8 CPU profile (bench-out/profile/*.cpuprofile) when it stops.
  const svc = await ctx.startService({}, args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.out, 'profile')}`] : []);
  const agents = agentFactory(ctx.server, ctx.vault.jid, ctx.work);

  progress('prosody: store (mod_offline) and drain ...');
  const meter = () => cpuMeter({ prosody: ctx.local.prosody.pid, service: svc.pid });
  const prosody = await runProsodyPath(ctx.server, await ctx.account('p-sender'), await ctx.account('p-recipient'), n, meter);
  progress(`  store ${round(prosody.storePerS)}/s, drain ${round(prosody.drainPerS)}/s`);

  progress('sealpost: store (until the last receipt) and drain (until the vault has every receipt) ...');
  const sealpost = await runSealpostPath(svc, agents, await ctx.account('s-sender'), await ctx.account('s-recipient'), n, meter);
  progress(`  store ${round(sealpost.storePerS)}/s, drain ${round(sealpost.drainPerS)}/s`);

  progress(`first delivery after presence, ${rounds} reconnects each ...`);
  const first = await firstDelivery(svc, agents, await ctx.account('f-sender'), await ctx.account('f-recipient'), rounds);
  const prosodyFirst = await prosodyFirstDelivery(ctx.server, await ctx.account('pf-sender'), await ctx.account('pf-recipient'), rounds);
  const rss = svc.peakRssMb();
  await svc.stop();

  progress("bounds: the agent's crypto per message; Prosody relaying the same stanza shapes with nothing else ...");
  const crypto = await cryptoCost();
  const relayPair = async (): Promise<[XmppAccount, XmppAccount]> => [await ctx.account('r-a'), await ctx.account('r-b')];
  const relayMeter = () => cpuMeter({ prosody: ctx.local.prosody.pid });
  const relayIn = await relayFloor(ctx.server, ...(await relayPair()), 'submission', n, SUBMIT_BATCH_ITEMS, relayMeter);
  const relayOut = await relayFloor(ctx.server, ...(await relayPair()), 'delivery', n, BATCH_MAX_COPIES, relayMeter);

  const cpu = {
    prosody_store: perMessage(prosody.storeCpu, n),
    sealpost_store: perMessage(sealpost.storeCpu, n),
    prosody_drain: perMessage(prosody.drainCpu, n),
    sealpost_drain: perMessage(sealpost.drainCpu, n),
  };
  const figures: Figures = {
    n,
    prosody_store_per_s: round(prosody.storePerS),
    sealpost_store_per_s: round(sealpost.storePerS),
    store_ratio: round(sealpost.storePerS / prosody.storePerS, 2),
    prosody_drain_per_s: round(prosody.drainPerS),
    sealpost_drain_per_s: round(sealpost.drainPerS),
    drain_ratio: round(sealpost.drainPerS / prosody.drainPerS, 2),
    first_delivery_ms_p50: round(first.p50),
    first_delivery_ms_p99: round(first.p99),
    service_rss_mb: round(rss),
    // What one vault core carries, wherever the agents run: the service's CPU per message.
    service_cpu_us: { stored: cpu.sealpost_store.service ?? Number.NaN, delivered: cpu.sealpost_drain.service ?? Number.NaN },
    // The SDK's whole CPU per message (this process: the sender while storing, the recipient while draining).
    agent_cpu_us: { sent: cpu.sealpost_store.clients ?? Number.NaN, received: cpu.sealpost_drain.clients ?? Number.NaN },
    prosody_first_delivery_ms_p50: round(percentile(prosodyFirst, 50)),
    prosody_first_delivery_ms_p99: round(percentile(prosodyFirst, 99)),
    rounds,
    // Where the cycles went: CPU µs per message of Prosody, the service and the clients (agents).
    cpu_us_per_msg: cpu,
    // What bounds each path (bench/lib/bounds.ts): the agent's crypto per message on one core, and
    // Prosody relaying stanzas of the same shape as the submission and delivery batches with
    // nothing else; its CPU per item is its floor in each path.
    bounds: {
      crypto_backend: crypto.backend,
      seal_us: round(crypto.sealUs),
      open_us: round(crypto.openUs),
      relay_submission_per_s: round(relayIn.perS),
      relay_submission_prosody_us: round(relayIn.prosodyUs),
      relay_delivery_per_s: round(relayOut.perS),
      relay_delivery_prosody_us: round(relayOut.prosodyUs),
    },
    cores: availableParallelism(),
  };
  return { figures, prosody, sealpost };
}

function chart(n: number, f: Figures, last: Run, runs: number): string {
  const { prosody, sealpost } = last;
  const of = runs > 1 ? ` (median of ${runs} runs; curves: the last run)` : '';
  return renderChart({
    title: `sealpost vs Prosody offline storage — ${n} messages of 1 KiB`,
    subtitle: `store ×${figure(f, 'store_ratio')}, drain ×${figure(f, 'drain_ratio')} (with per-message receipts); first delivery p50 ${figure(f, 'first_delivery_ms_p50')} ms, p99 ${figure(f, 'first_delivery_ms_p99')} ms; service peak RSS ${figure(f, 'service_rss_mb')} MB${of}`,
    bars: [
      { group: 'store', values: [{ label: 'Prosody', color: '#999', value: figure(f, 'prosody_store_per_s') }, { label: 'sealpost', color: '#2a7', value: figure(f, 'sealpost_store_per_s') }] },
      { group: 'drain', values: [{ label: 'Prosody', color: '#999', value: figure(f, 'prosody_drain_per_s') }, { label: 'sealpost', color: '#2a7', value: figure(f, 'sealpost_drain_per_s') }] },
    ],
    store: [
      { label: 'Prosody (sent; last: ping answered)', color: '#999', times: prosody.storeTimes },
      { label: 'sealpost (receipts)', color: '#2a7', times: sealpost.storeTimes },
    ],
    drain: [
      { label: 'Prosody flush', color: '#999', times: prosody.drainTimes },
      { label: 'sealpost (handler resolved)', color: '#2a7', times: sealpost.drainTimes },
    ],
  });
}

const ROWS: [string, string, string][] = [
  ['Prosody store', 'prosody_store_per_s', 'msg/s'],
  ['sealpost store', 'sealpost_store_per_s', 'msg/s'],
  ['store ratio', 'store_ratio', ''],
  ['Prosody drain', 'prosody_drain_per_s', 'msg/s'],
  ['sealpost drain (receipt per msg)', 'sealpost_drain_per_s', 'msg/s'],
  ['drain ratio', 'drain_ratio', ''],
  ['first delivery p50', 'first_delivery_ms_p50', 'ms'],
  ['first delivery p99', 'first_delivery_ms_p99', 'ms'],
  ['service peak RSS', 'service_rss_mb', 'MB'],
  ['service CPU per stored msg', 'service_cpu_us.stored', 'µs'],
  ['service CPU per delivered msg', 'service_cpu_us.delivered', 'µs'],
  ['sender SDK CPU per msg', 'agent_cpu_us.sent', 'µs'],
  ['recipient SDK CPU per msg', 'agent_cpu_us.received', 'µs'],
  ['agent seal (1 dev + 2 AK), one core', 'bounds.seal_us', 'µs'],
  ['agent open, one core', 'bounds.open_us', 'µs'],
  ['Prosody relaying submissions alone', 'bounds.relay_submission_per_s', 'msg/s'],
  ['  its CPU per item', 'bounds.relay_submission_prosody_us', 'µs'],
  ['Prosody relaying deliveries alone', 'bounds.relay_delivery_per_s', 'msg/s'],
  ['  its CPU per item', 'bounds.relay_delivery_prosody_us', 'µs'],
];

const backendOf = (f: Figures): string => {
  const b = f.bounds;
  return typeof b === 'object' && typeof b.crypto_backend === 'string' ? b.crypto_backend : '?';
};

async function compare(): Promise<void> {
  const n = positive('n', args.n) ?? 2000;
  const rounds = positive('rounds', args.rounds) ?? 20;
  const runs = positive('runs', args.runs) ?? 1;
  const ctx = await setUp(args.out, { fromSources: args['from-sources'] });
  try {
    progress(`bench: N=${n} messages of 1 KiB, ${runs} run(s); Prosody ${ctx.server.service}; work dir ${ctx.work}`);
    const done: Run[] = [];
    for (let r = 1; r <= runs; r++) {
      if (runs > 1) progress(`run ${r} of ${runs}`);
      done.push(await runOnce(ctx, n, rounds));
    }
    const each = done.map((d) => d.figures);
    const result: Figures = { ...(runs > 1 ? medianOf(each) : (each[0] as Figures)), runs };
    const targets = Object.fromEntries(TARGETS.map((t) => [targetName(t), met(result, t)]));
    writeFileSync(join(ctx.out, 'compare.json'), `${JSON.stringify({ ...result, targets, per_run: each }, null, 2)}\n`);
    const svg = join(ctx.out, 'compare.svg');
    writeFileSync(svg, chart(n, result, done[done.length - 1] as Run, runs));
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ ...result, targets, ...(runs > 1 ? { per_run: each } : {}) })}\n`);
      return;
    }
    const head = runs > 1 ? `median of ${runs} runs` : 'one run';
    process.stdout.write(`N = ${n} messages of 1 KiB, ${head}, ${figure(result, 'cores')} cores, agents on ${backendOf(result)} libsodium\n`);
    for (const line of table(ROWS, result, each)) process.stdout.write(`${line}\n`);
    process.stdout.write(`CPU µs per message: prosody / service / clients\n`);
    for (const [phase, split] of Object.entries(result.cpu_us_per_msg as Figures))
      process.stdout.write(`  ${phase.padEnd(26)} ${['prosody', 'service', 'clients'].map((k) => figure(split as Figures, k)).join(' / ')}\n`);
    for (const t of TARGETS) process.stdout.write(`${targets[targetName(t)] === true ? 'met    ' : 'NOT MET'} ${targetName(t)}\n`);
    process.stdout.write(`chart: ${svg}\n`);
  } finally {
    await ctx.close();
  }
}

async function main(): Promise<void> {
  if (args.nodes !== undefined) {
    await runNodesBench({
      out: args.out,
      json: args.json,
      fromSources: args['from-sources'],
      nodes: positive('nodes', args.nodes) ?? 3,
      n: positive('n', args.n),
      recipients: positive('recipients', args.recipients),
      senders: positive('senders', args.senders),
      shards: positive('shards', args.shards),
      warmup: args.warmup === '0' ? 0 : positive('warmup', args.warmup),
    });
  } else if (args.file) {
    await runFileBench({ out: args.out, json: args.json, fromSources: args['from-sources'], mib: positive('mib', args.mib) });
  } else if (args.scale) {
    await runScale({
      out: args.out,
      json: args.json,
      fromSources: args['from-sources'],
      users: positive('users', args.users),
      pending: positive('pending', args.pending),
      live: positive('live', args.live),
    });
  } else await compare();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
