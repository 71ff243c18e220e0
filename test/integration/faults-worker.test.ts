// Fault test (issue 9): the worker process is SIGKILLed at random moments while 2,000 submissions
// are stored (invariant 2). The ingest runs in this process, the workers in a child process
// (`sealpost worker`) that is killed and started again, all on a Prosody of their own. Each
// receipt must mean a committed row; in the end every message has its receipt and exactly one
// row (idempotent store, no loss).
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { configSlices } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/index.js';
import { presentShards } from '../../src/shards/index.js';
import { openStores } from '../../src/stores/index.js';
import { envOf, privateWorld, roleProcess, seededRandom, sleep, waitUntil, storeRun } from './fault-fixture.js';

const N = 2000;
const KILLS = 4;

describe('fault: the worker process is killed', () => {
  it('kill -9 of the worker at random moments during 2,000 stores: every receipt has its row, none lost, none doubled', async () => {
    const rnd = seededRandom('faults-worker');
    // 8 shards: a restarted worker opens each shard it takes back (fence, archive, directory, two workers).
    const world = await privateWorld({ SEALPOST_SENDER_RATE: '1000000', SEALPOST_SHARD_COUNT: '8' }, { roles: ['ingest'] });
    const worker = roleProcess('worker', envOf(world.config), world.dataDir);
    await worker.start();
    // The ingest holds no archive (issue 15): bob's rows are read from the worker's shards, as an
    // operator command on the host reads them, once the worker created every shard.
    const dir = join(world.dataDir, 'shards');
    await waitUntil('every shard created', () => presentShards(dir, world.config.shardCount).length === world.config.shardCount, 30_000);
    const stores = await openStores(configSlices(world.config).stores, silentLogger(), 'borrow');
    onTestFinished(() => stores.close());
    const run = await storeRun(world, N, 2000, stores.archive);

    // Kill moments: after a random number of receipts, then a random delay (the worker is then
    // somewhere in fetching, committing, acknowledging or completing a job).
    // One mark in each of KILLS equal slices of the first 80% of the run: a run that finishes
    // early cannot skip the later kills (all marks drawn near the end let it finish after one).
    const slice = Math.floor((N * 0.8) / KILLS);
    const marks = Array.from({ length: KILLS }, (_, i) => rnd.between(i * slice + 1, (i + 1) * slice));
    const kills: { atReceipts: number; delayMs: number }[] = [];
    for (const mark of marks) {
      await waitUntil(`${mark} receipts`, () => run.done() || run.receipts() >= mark, 45_000, () => `${run.receipts()} receipts`);
      const delay = rnd.between(0, 250);
      await sleep(delay);
      if (run.done()) break;
      kills.push({ atReceipts: run.receipts(), delayMs: delay });
      await worker.kill('SIGKILL');
      await worker.start();
    }
    const { sentMs } = await run.finish();
    process.stderr.write(
      `[faults-worker] ${N} stored in ${sentMs} ms with ${kills.length} kills at ${kills.map((k) => `${k.atReceipts} receipts +${k.delayMs} ms`).join(', ')}; ${worker.starts} worker starts\n`,
    );

    expect(kills.length).toBeGreaterThanOrEqual(2);
    await run.expectAllStoredOnce();
  });
});
