// Fault test (issue 9): the worker process is SIGKILLed at random moments while 2,000 submissions
// are stored (invariant 2). The ingest runs in this process, the workers in a child process
// (`sealpost worker`) that is killed and started again, all on a Prosody of their own. Each
// receipt must mean a committed row; in the end every message has its receipt and exactly one
// row (idempotent store, no loss).
import { describe, expect, it } from 'vitest';
import { envOf, privateWorld, roleProcess, seededRandom, sleep, waitUntil } from './fault-fixture.js';

const N = 2000;
const KILLS = 4;

describe('fault: the worker process is killed', () => {
  it('kill -9 of the worker at random moments during 2,000 stores: every receipt has its row, none lost, none doubled', async () => {
    const rnd = seededRandom('faults-worker');
    const world = await privateWorld({ SEALPOST_SENDER_RATE: '1000000' }, { roles: ['ingest'] });
    const worker = roleProcess('worker', envOf(world.config), world.dataDir);
    await worker.start();
    const alice = await world.agent('alice', { resendAfterMs: 2000 });
    const bob = await world.agent('bob');
    await bob.agent.stop(); // offline: every message stays pending in his archive
    const archive = world.service.archive;
    const rowsOf = (id: string): number => archive.deliveryState(bob.jid, alice.jid, id)?.length ?? 0;

    // At each receipt (first or repeated), the row is already committed, once.
    const receipted = new Set<string>();
    const early: string[] = [];
    alice.agent.on('receipt', (id) => {
      if (rowsOf(id) !== 1) early.push(id);
      receipted.add(id);
    });

    const t0 = Date.now();
    const first = await alice.agent.send(bob.jid, 'm0'); // claims the bundles
    const rest = Promise.all(Array.from({ length: N - 1 }, (_, i) => alice.agent.send(bob.jid, `m${i + 1}`)));
    let done = false;
    rest.then(
      () => (done = true),
      () => (done = true),
    );

    // Kill moments: after a random number of receipts, then a random delay (the worker is then
    // somewhere in fetching, committing, acknowledging or completing a job).
    const marks = Array.from({ length: KILLS }, () => rnd.between(1, N - 100)).sort((a, b) => a - b);
    const kills: { atReceipts: number; delayMs: number }[] = [];
    for (const mark of marks) {
      await waitUntil(`${mark} receipts`, () => done || receipted.size >= mark, 45_000, () => `${receipted.size} receipts`);
      const delay = rnd.between(0, 250);
      await sleep(delay);
      if (done) break;
      kills.push({ atReceipts: receipted.size, delayMs: delay });
      await worker.kill('SIGKILL');
      await worker.start();
    }
    const ids = [first.messageId, ...(await rest).map((r) => r.messageId)];
    const sentMs = Date.now() - t0;

    // Jobs of resends that came after a receipt may still run: wait for the queues to empty.
    const queue = world.service.queues.store;
    await waitUntil('store queue drained', async () => {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    }, 30_000);
    process.stderr.write(
      `[faults-worker] ${N} stored in ${sentMs} ms with ${kills.length} kills at ${kills.map((k) => `${k.atReceipts} receipts +${k.delayMs} ms`).join(', ')}; ${worker.starts} worker starts\n`,
    );

    expect(kills.length).toBeGreaterThanOrEqual(2);
    expect(early).toEqual([]);
    expect(new Set(ids).size).toBe(N);
    expect(ids.filter((id) => !receipted.has(id))).toEqual([]);
    expect(ids.filter((id) => rowsOf(id) !== 1)).toEqual([]);
    expect(archive.pendingCounts(bob.jid).messages).toBe(N);
    expect(alice.agent.outbox.size).toBe(0);
    expect(await queue.getFailedCount()).toBe(0);
  });
});
