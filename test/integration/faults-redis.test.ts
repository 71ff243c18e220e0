// Fault test (issue 9): Redis crashes (SIGKILL) and comes back while 2,000 submissions arrive.
// The test runs its own redis-server (and Prosody) with `appendonly yes` and `appendfsync always`, as a
// deployment must (design.md "Deployment"). While Redis is down the ingest answers `wait` and the
// SDK keeps and resends; every receipt still means a committed row, the workers resume by
// themselves, and in the end every message has its receipt and exactly one row.
import { describe, expect, it, onTestFinished } from 'vitest';
import { startRedisServer } from '../../src/localdev/index.js';
import { privateWorld, seededRandom, sleep, waitUntil, storeRun } from './fault-fixture.js';

const N = 2000;
const CRASHES = 2;

describe('fault: Redis restarts', () => {
  it('SIGKILL of Redis (AOF, fsync always) during 2,000 submissions: every receipted message is stored, workers resume, none lost', async () => {
    const rnd = seededRandom('faults-redis');
    const redis = await startRedisServer({ appendonly: true, appendfsync: 'always' });
    onTestFinished(() => redis.stop());
    const world = await privateWorld({ REDIS_URL: redis.url, SEALPOST_SENDER_RATE: '1000000' });
    const run = await storeRun(world, N, 1500);

    const marks = Array.from({ length: CRASHES }, () => rnd.between(50, N - 300)).sort((a, b) => a - b);
    const crashes: { atReceipts: number; queued: number; downMs: number; receiptsWhileDown: number }[] = [];
    for (const mark of marks) {
      await waitUntil(`${mark} receipts`, () => run.done() || run.receipts() >= mark, 45_000, () => `${run.receipts()} receipts`);
      if (run.done()) break;
      const at = run.receipts();
      const counts = await world.service.queues.store.getJobCounts('wait', 'active').catch((): Record<string, number> => ({}));
      await redis.kill('SIGKILL');
      const downMs = rnd.between(300, 2000);
      await sleep(downMs);
      crashes.push({ atReceipts: at, queued: (counts.wait ?? 0) + (counts.active ?? 0), downMs, receiptsWhileDown: run.receipts() - at });
      await redis.restart();
    }
    const { sentMs } = await run.finish();
    process.stderr.write(
      `[faults-redis] ${N} stored in ${sentMs} ms across ${crashes.length} Redis crashes: ${crashes.map((c) => `at ${c.atReceipts} receipts with ${c.queued} jobs queued, down ${c.downMs} ms (${c.receiptsWhileDown} receipts meanwhile)`).join('; ')}\n`,
    );

    expect(crashes.length).toBe(CRASHES);
    await run.expectAllStoredOnce();
  });
});
