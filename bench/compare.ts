// `npm run bench`: sealpost against what an operator would use instead — the XMPP server's own
// offline storage — in one run, on one machine, against the same private Prosody (issue 9). N
// messages (default 2,000) of 1 KiB: store rate and drain rate of each path, presence → first
// message over 20 reconnects, the service's peak RSS (it runs as a child process). Prints a table
// (or, with --json, one JSON object on stdout) and writes bench-out/compare.{json,svg}.
// `npm run bench -- --scale` runs the 100,000-pending RSS check instead (bench/scale.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { cryptoCost, relayFloor } from './lib/bounds.js';
import { renderChart } from './lib/chart.js';
import { cpuMeter, type CpuSplit } from './lib/cpu.js';
import { prosodyFirstDelivery, runProsodyPath } from './lib/prosody-path.js';
import type { XmppAccount } from './lib/prosody-path.js';
import { agentFactory, firstDelivery, runSealpostPath } from './lib/sealpost-path.js';
import { progress, setUp } from './lib/setup.js';
import { percentile, round } from './lib/stats.js';
import { runScale } from './scale.js';
import { SUBMIT_BATCH_ITEMS } from '../src/agent/submit-batch.js';
import { BATCH_MAX_COPIES } from '../src/workers/deliver-worker.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
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

async function compare(): Promise<void> {
  const n = positive('n', args.n) ?? 2000;
  const rounds = positive('rounds', args.rounds) ?? 20;
  const ctx = await setUp(args.out, { fromSources: args['from-sources'] });
  try {
    progress(`bench: N=${n} messages of 1 KiB; Prosody ${ctx.server.service}; work dir ${ctx.work}`);
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

    progress('bounds: the agent\'s crypto per message; Prosody relaying the same stanza shapes with nothing else ...');
    const crypto = await cryptoCost();
    const relayPair = async (): Promise<[XmppAccount, XmppAccount]> => [await ctx.account('r-a'), await ctx.account('r-b')];
    const relayMeter = () => cpuMeter({ prosody: ctx.local.prosody.pid });
    const relayIn = await relayFloor(ctx.server, ...(await relayPair()), 'submission', n, SUBMIT_BATCH_ITEMS, relayMeter);
    const relayOut = await relayFloor(ctx.server, ...(await relayPair()), 'delivery', n, BATCH_MAX_COPIES, relayMeter);

    const result = {
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
      prosody_first_delivery_ms_p50: round(percentile(prosodyFirst, 50)),
      prosody_first_delivery_ms_p99: round(percentile(prosodyFirst, 99)),
      rounds,
      // Where the cycles went: CPU µs per message of Prosody, the service and the clients (agents).
      cpu_us_per_msg: {
        prosody_store: perMessage(prosody.storeCpu, n),
        sealpost_store: perMessage(sealpost.storeCpu, n),
        prosody_drain: perMessage(prosody.drainCpu, n),
        sealpost_drain: perMessage(sealpost.drainCpu, n),
      },
      // What bounds each path (bench/lib/bounds.ts): the agent's crypto per message on one core, and
      // Prosody relaying stanzas of the same shape as the submission and delivery batches with
      // nothing else; its CPU per item is its floor in each path.
      bounds: {
        seal_us: round(crypto.sealUs),
        open_us: round(crypto.openUs),
        relay_submission_per_s: round(relayIn.perS),
        relay_submission_prosody_us: round(relayIn.prosodyUs),
        relay_delivery_per_s: round(relayOut.perS),
        relay_delivery_prosody_us: round(relayOut.prosodyUs),
      },
      cores: availableParallelism(),
    };
    const targets = [
      ['store_ratio >= 3', result.store_ratio >= 3],
      ['drain_ratio >= 1', result.drain_ratio >= 1],
      ['first_delivery_ms_p99 <= 100', result.first_delivery_ms_p99 <= 100],
      ['service_rss_mb <= 200', result.service_rss_mb <= 200],
    ] as const;
    writeFileSync(join(ctx.out, 'compare.json'), `${JSON.stringify({ ...result, targets: Object.fromEntries(targets) }, null, 2)}\n`);
    const svg = join(ctx.out, 'compare.svg');
    writeFileSync(
      svg,
      renderChart({
        title: `sealpost vs Prosody offline storage — ${n} messages of 1 KiB`,
        subtitle: `store ×${result.store_ratio}, drain ×${result.drain_ratio} (with per-message receipts); first delivery p50 ${result.first_delivery_ms_p50} ms, p99 ${result.first_delivery_ms_p99} ms; service peak RSS ${result.service_rss_mb} MB`,
        bars: [
          { group: 'store', values: [{ label: 'Prosody', color: '#999', value: prosody.storePerS }, { label: 'sealpost', color: '#2a7', value: sealpost.storePerS }] },
          { group: 'drain', values: [{ label: 'Prosody', color: '#999', value: prosody.drainPerS }, { label: 'sealpost', color: '#2a7', value: sealpost.drainPerS }] },
        ],
        store: [
          { label: 'Prosody (sent; last: ping answered)', color: '#999', times: prosody.storeTimes },
          { label: 'sealpost (receipts)', color: '#2a7', times: sealpost.storeTimes },
        ],
        drain: [
          { label: 'Prosody flush', color: '#999', times: prosody.drainTimes },
          { label: 'sealpost (handler resolved)', color: '#2a7', times: sealpost.drainTimes },
        ],
      }),
    );
    if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      const rows: [string, string][] = [
        ['N (1 KiB messages)', String(n)],
        ['Prosody store', `${result.prosody_store_per_s} msg/s`],
        ['sealpost store', `${result.sealpost_store_per_s} msg/s`],
        ['store ratio', `${result.store_ratio} (target ≥ 3)`],
        ['Prosody drain', `${result.prosody_drain_per_s} msg/s`],
        ['sealpost drain', `${result.sealpost_drain_per_s} msg/s (per-message receipts)`],
        ['drain ratio', `${result.drain_ratio} (target ≥ 1)`],
        ['first delivery p50 / p99', `${result.first_delivery_ms_p50} / ${result.first_delivery_ms_p99} ms (target p99 ≤ 100; Prosody ${result.prosody_first_delivery_ms_p50} / ${result.prosody_first_delivery_ms_p99})`],
        ['service peak RSS', `${result.service_rss_mb} MB`],
      ];
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(28)} ${v}\n`);
      process.stdout.write(`CPU µs per message (${result.cores} cores): prosody / service / clients\n`);
      for (const [phase, split] of Object.entries(result.cpu_us_per_msg))
        process.stdout.write(`  ${phase.padEnd(26)} ${['prosody', 'service', 'clients'].map((k) => String(split[k] ?? '-')).join(' / ')}\n`);
      const b = result.bounds;
      process.stdout.write(`bounds: seal ${b.seal_us} µs (1 device + 2 archive keys), open ${b.open_us} µs, per message on one core\n`);
      process.stdout.write(`  Prosody relaying submission batches alone ${b.relay_submission_per_s}/s (${b.relay_submission_prosody_us} µs of Prosody per item)\n`);
      process.stdout.write(`  Prosody relaying delivery batches alone   ${b.relay_delivery_per_s}/s (${b.relay_delivery_prosody_us} µs of Prosody per item)\n`);
      for (const [name, ok] of targets) process.stdout.write(`${ok ? 'met    ' : 'NOT MET'} ${name}\n`);
      process.stdout.write(`chart: ${svg}\n`);
    }
  } finally {
    await ctx.close();
  }
}

async function main(): Promise<void> {
  if (args.scale) {
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
