// Fault test (issue 9): Redis crashes (SIGKILL) and comes back while 2,000 submissions arrive.
// The test runs its own redis-server (and Prosody) with `appendonly yes` and `appendfsync always`, as a
// deployment must (design.md "Deployment"). While Redis is down the ingest answers `wait` and the
// SDK keeps and resends; every receipt still means a committed row, the workers resume by
// themselves, and in the end every message has its receipt and exactly one row.
import { describe, expect, it, onTestFinished } from 'vitest';
import { startRedisServer } from '../../src/localdev/index.js';
import { privateWorld, seededRandom, sleep, waitUntil } from './fault-fixture.js';

const N = 2000;
const CRASHES = 2;

describe('fault: Redis restarts', () => {
  it('SIGKILL of Redis (AOF, fsync always) during 2,000 submissions: every receipted message is stored, workers resume, none lost', async () => {
    const rnd = seededRandom('faults-redis');
    const redis = await startRedisServer({ appendonly: true, appendfsync: 'always' });
    onTestFinished(() => redis.stop());
    const world = await privateWorld({ REDIS_URL: redis.url, SEALPOST_SENDER_RATE: '1000000' });
    const alice = await world.agent('alice', { resendAfterMs: 1500 });
    const bob = await world.agent('bob');
    await bob.agent.stop();
    const archive = world.service.archive;
    const rowsOf = (id: string): number => archive.deliveryState(bob.jid, alice.jid, id)?.length ?? 0;

    const receipted = new Set<string>();
    const early: string[] = [];
    alice.agent.on('receipt', (id) => {
      if (rowsOf(id) !== 1) early.push(id);
      receipted.add(id);
    });
    const refused: string[] = [];
    alice.agent.on('refused', (id, err) => refused.push(`${id}: ${err.message}`));

    const t0 = Date.now();
    const first = await alice.agent.send(bob.jid, 'm0');
    const rest = Promise.all(Array.from({ length: N - 1 }, (_, i) => alice.agent.send(bob.jid, `m${i + 1}`)));
    let done = false;
    rest.then(
      () => (done = true),
      () => (done = true),
    );

    const marks = Array.from({ length: CRASHES }, () => rnd.between(50, N - 300)).sort((a, b) => a - b);
    const crashes: { atReceipts: number; queued: number; downMs: number; receiptsWhileDown: number }[] = [];
    for (const mark of marks) {
      await waitUntil(`${mark} receipts`, () => done || receipted.size >= mark, 45_000, () => `${receipted.size} receipts`);
      if (done) break;
      const at = receipted.size;
      const counts = await world.service.queues.store.getJobCounts('wait', 'active').catch((): Record<string, number> => ({}));
      await redis.kill('SIGKILL');
      const downMs = rnd.between(300, 2000);
      await sleep(downMs);
      crashes.push({ atReceipts: at, queued: (counts.wait ?? 0) + (counts.active ?? 0), downMs, receiptsWhileDown: receipted.size - at });
      await redis.restart();
    }
    const ids = [first.messageId, ...(await rest).map((r) => r.messageId)];
    const sentMs = Date.now() - t0;
    const queue = world.service.queues.store;
    await waitUntil('store queue drained', async () => {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    }, 30_000);
    process.stderr.write(
      `[faults-redis] ${N} stored in ${sentMs} ms across ${crashes.length} Redis crashes: ${crashes.map((c) => `at ${c.atReceipts} receipts with ${c.queued} jobs queued, down ${c.downMs} ms (${c.receiptsWhileDown} receipts meanwhile)`).join('; ')}\n`,
    );

    expect(crashes.length).toBe(CRASHES);
    expect(refused).toEqual([]);
    expect(early).toEqual([]);
    expect(new Set(ids).size).toBe(N);
    expect(ids.filter((id) => !receipted.has(id))).toEqual([]);
    expect(ids.filter((id) => rowsOf(id) !== 1)).toEqual([]);
    expect(archive.pendingCounts(bob.jid).messages).toBe(N);
    expect(alice.agent.outbox.size).toBe(0);
    expect(await queue.getFailedCount()).toBe(0);
  });
});
