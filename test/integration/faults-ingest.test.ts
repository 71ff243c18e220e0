// Fault test (issue 9): the ingest process dies between receiving submission stanzas and queueing
// them (invariant 2: until its receipt the sender's SDK keeps and resends). The ingest runs as a
// child process (`sealpost ingest`) whose Redis traffic passes through a proxy the test can hold:
// with the proxy held, the ingest has the stanzas and its queue commands are stuck in the proxy;
// then it is SIGKILLed, those commands are discarded, and a new ingest process starts. The workers
// run in this process, everything on a Prosody of its own (the dead ingest's session and the
// resends load the server; other tests must not feel it). Every one of 2,000 messages must end
// with its receipt and one row.
import { describe, expect, it } from 'vitest';
import { envOf, holdingProxy, privateWorld, roleProcess, seededRandom, sleep, waitUntil, storeRun } from './fault-fixture.js';

const N = 2000;
const KILLS = 2;

describe('fault: the ingest process is killed', () => {
  it('kill -9 of the ingest between receiving stanzas and queueing them: the SDK resends until its receipt, none lost', async () => {
    const rnd = seededRandom('faults-ingest');
    const world = await privateWorld({ SEALPOST_SENDER_RATE: '1000000' }, { roles: ['worker'] });
    const proxy = await holdingProxy(world.config.redisUrl);
    const ingest = roleProcess('ingest', { ...envOf(world.config), REDIS_URL: proxy.url }, world.dataDir);
    await ingest.start();
    const run = await storeRun(world, N, 1500);

    const marks = Array.from({ length: KILLS }, () => rnd.between(50, N - 500)).sort((a, b) => a - b);
    const kills: { atReceipts: number; heldBytes: number; restartMs: number }[] = [];
    for (const mark of marks) {
      await waitUntil(`${mark} receipts`, () => run.done() || run.receipts() >= mark, 45_000, () => `${run.receipts()} receipts`);
      if (run.done()) break;
      proxy.hold();
      // The ingest goes on reading stanzas; each one's Redis commands now stop at the proxy.
      await waitUntil('ingest commands held', () => proxy.heldBytes > 0, 10_000);
      await sleep(rnd.between(20, 300));
      const held = proxy.heldBytes;
      const at = run.receipts();
      await ingest.kill('SIGKILL');
      proxy.dropAll(); // what the dead ingest had not queued is gone
      const t = Date.now();
      await ingest.start();
      kills.push({ atReceipts: at, heldBytes: held, restartMs: Date.now() - t });
    }
    const { sentMs } = await run.finish();
    process.stderr.write(
      `[faults-ingest] ${N} stored in ${sentMs} ms across ${kills.length} ingest kills: ${kills.map((k) => `at ${k.atReceipts} receipts with ${k.heldBytes} bytes of Redis commands held, back in ${k.restartMs} ms`).join('; ')}\n`,
    );

    expect(kills.length).toBe(KILLS);
    await run.expectAllStoredOnce();
  });
});
