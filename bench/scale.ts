// `npm run bench -- --scale`: the service's memory with a large backlog (issue 9: ≤ 200 MB RSS with
// 100,000 pending messages across 10,000 users). A few "live" users get real submissions through
// the SDK and the running service; the rest of the backlog is seeded through the archive API
// (ArchiveStore.storeIncomingMany, with the service stopped: the same files, keys and code the
// store worker writes with, without sealing 100,000 messages on one machine first). Then the
// service starts on that data, idles with the backlog, and delivers to the live users while its
// RSS is sampled.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingItem } from '../src/archive/index.js';
import { configSlices, loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/index.js';
import { openStores } from '../src/stores/index.js';
import { acked, agentFactory } from './lib/sealpost-path.js';
import { progress, setUp } from './lib/setup.js';
import { round, sleep, until } from './lib/stats.js';

export interface ScaleOptions {
  out: string;
  json: boolean;
  /** Users with pending messages (default 10,000). */
  users?: number | undefined;
  /** Pending messages in all (default 100,000). */
  pending?: number | undefined;
  /** Users that come online and take their messages (default 20). */
  live?: number | undefined;
  fromSources?: boolean;
}

const SEED_BATCH = 10;

export async function runScale(o: ScaleOptions): Promise<void> {
  const users = o.users ?? 10_000;
  const pending = o.pending ?? 100_000;
  const live = Math.min(o.live ?? 20, users);
  const perUser = Math.max(1, Math.floor(pending / users));
  const ctx = await setUp(o.out, { fromSources: o.fromSources === true });
  try {
    progress(`scale: ${pending} pending across ${users} users (${perUser} each); ${live} live users take theirs through the SDK`);
    const agents = agentFactory(ctx.server, ctx.vault.jid, ctx.work);

    // 1. Live users: real accounts and keys; their messages sealed and submitted through the service.
    let svc = await ctx.startService();
    const liveAccounts = await Promise.all(Array.from({ length: live }, (_, i) => ctx.account(`live${i}`)));
    for (const a of liveAccounts) await (await agents(a)).stop();
    const sender = await agents(await ctx.account('scale-sender'));
    const t0 = performance.now();
    await Promise.all(liveAccounts.flatMap((a) => Array.from({ length: perUser }, () => sender.send(a.jid, randomBytes(1024)))));
    progress(`  ${live * perUser} submitted through the SDK in ${round((performance.now() - t0) / 1000)} s`);
    await sender.stop();
    await svc.stop();

    // 2. The rest of the backlog through the archive API, with the service stopped.
    const seeded = await seed(ctx.env, users - live, perUser, ctx.server.domain);
    progress(`  ${seeded.items} seeded through the archive API for ${users - live} users in ${round(seeded.ms / 1000)} s`);

    // 3. The service on that backlog: idle, then delivering to the live users.
    svc = await ctx.startService();
    const started = performance.now();
    await sleep(10_000);
    const idleRss = svc.rssMb();
    const idlePeak = svc.peakRssMb();
    progress(`  idle with the backlog: RSS ${round(idleRss)} MB (peak since start ${round(idlePeak)} MB)`);
    const peakWhileDelivering = svc.window();
    const before = await acked(svc);
    let got = 0;
    const t1 = performance.now();
    const online = await Promise.all(liveAccounts.map((a) => agents(a, () => void got++)));
    await until(async () => (await acked(svc)) - before >= live * perUser, `${live * perUser} receipts at the vault`, 300_000, 20);
    const deliverMs = performance.now() - t1;
    const deliveringRss = peakWhileDelivering();
    for (const a of online) await a.stop();
    const result = {
      users,
      pending: seeded.items + live * perUser,
      seeded_through_archive_api: seeded.items,
      submitted_through_sdk: live * perUser,
      live_users: live,
      idle_rss_mb: round(idleRss),
      idle_peak_rss_mb: round(idlePeak),
      delivering_peak_rss_mb: round(deliveringRss),
      service_peak_rss_mb: round(svc.peakRssMb()),
      delivered: got,
      deliver_s: round(deliverMs / 1000, 2),
      uptime_s: round((performance.now() - started) / 1000),
      target_rss_mb: 200,
      met: svc.peakRssMb() <= 200,
    };
    await svc.stop();
    writeFileSync(join(ctx.out, 'scale.json'), `${JSON.stringify(result, null, 2)}\n`);
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(`pending messages              ${result.pending} across ${users} users (${seeded.items} seeded through the archive API)\n`);
      process.stdout.write(`service RSS, idle             ${result.idle_rss_mb} MB\n`);
      process.stdout.write(`service RSS, delivering       ${result.delivering_peak_rss_mb} MB peak (${live} users, ${live * perUser} messages in ${result.deliver_s} s)\n`);
      process.stdout.write(`service peak RSS              ${result.service_peak_rss_mb} MB (target ≤ 200): ${result.met ? 'met' : 'NOT MET'}\n`);
    }
  } finally {
    await ctx.close();
  }
}

/** Seeds `perUser` pending 1 KiB items for each of `users` synthetic users, one transaction each. */
async function seed(env: Record<string, string>, users: number, perUser: number, domain: string): Promise<{ items: number; ms: number }> {
  const config = loadConfig({ ...env });
  const { archive, directory } = await openStores(configSlices(config).stores, createLogger({ level: 'warn' }), 'own');
  const payload = new Uint8Array(randomBytes(1024));
  const block = new Uint8Array(randomBytes(200));
  const t0 = performance.now();
  let items = 0;
  try {
    for (let u = 0; u < users; u++) {
      const batch: IncomingItem[] = Array.from({ length: perUser }, (_, i) => ({
        sender: `scale-sender@${domain}`,
        senderDevice: 1,
        messageId: `s${u}-${i}`,
        suite: 'sp1',
        payload,
        deviceBlocks: [{ deviceId: 1000 + (u % 1000), prekeyId: 1, block }],
        archiveBlock: { akId: 1, block },
      }));
      for (let i = 0; i < batch.length; i += SEED_BATCH) items += archive.storeIncomingMany(`scale-${u}@${domain}`, batch.slice(i, i + SEED_BATCH)).length;
      if ((u + 1) % 1000 === 0) {
        progress(`  seeded ${u + 1} users (${items} items) in ${round((performance.now() - t0) / 1000)} s`);
        await sleep(0);
      }
    }
  } finally {
    directory.close();
    archive.close();
  }
  return { items, ms: performance.now() - t0 };
}
