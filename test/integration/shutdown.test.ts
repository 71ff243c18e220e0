// Graceful shutdown and concurrent senders, end to end: a SIGTERM to `sealpost serve` in the
// middle of 1,000 submissions loses and doubles nothing; concurrent sends to one recipient claim
// once and never seal two messages to one one-time prekey.
import { describe, expect, it } from 'vitest';
import { configSlices, loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/index.js';
import { openStores } from '../../src/stores/index.js';
import { serveProcess as serve, startAgent, startTestService, testServiceEnv } from './service-fixture.js';

describe('graceful shutdown', () => {
  it('SIGTERM during 1,000 submissions: after a restart every one is stored once', async () => {
    const se = await testServiceEnv();
    let svc = serve(se.env);
    await svc.running;
    const bob = await startAgent(se, 'bob');
    await bob.agent.stop(); // offline: everything stays pending in his archive
    const alice = await startAgent(se, 'alice', { resendAfterMs: 3000 });
    const acked = new Set<string>();
    alice.agent.on('receipt', (id) => acked.add(id));
    // Twenty senders at a time, as a busy agent would: receipts flow while submissions continue.
    const results: { messageId: string }[] = [];
    let next = 0;
    const lanes = Array.from({ length: 20 }, async () => {
      while (next < 1000) {
        const i = next++;
        results.push(await alice.agent.send(bob.account.jid, `reading ${i}`));
      }
    });
    const sends = Promise.all(lanes);
    while (acked.size < 300) await new Promise((r) => setTimeout(r, 5));
    const ackedAtStop = acked.size;
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0); // a clean, graceful exit
    expect(ackedAtStop).toBeLessThan(1000); // the stop really came mid-run

    svc = serve(se.env);
    await svc.running;
    await Promise.race([
      sends,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`only ${acked.size} receipts after restart`)), 90_000)),
    ]);
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);

    const { archive, directory } = await openStores(configSlices(loadConfig(se.env)).stores, silentLogger(), 'borrow');
    try {
      expect(archive.pendingCounts(bob.account.jid).messages).toBe(1000);
      const ids = new Set(results.map((r) => r.messageId));
      expect(ids.size).toBe(1000);
      for (const id of ids) expect(archive.deliveryState(bob.account.jid, alice.account.jid, id)).toHaveLength(1);
    } finally {
      archive.close();
      directory.close();
    }
    expect(alice.agent.outbox.size).toBe(0);
  }, 150_000);

  it('concurrent sends to one recipient share one claim, and each message opens', async () => {
    const ts = await startTestService();
    const received: string[] = [];
    const bob = await startAgent(ts, 'bob', { onMessage: (m) => void received.push(m.text()) });
    const alice = await startAgent(ts, 'alice');
    const before = await bob.agent.prekeyCount();
    await Promise.all(Array.from({ length: 20 }, (_, i) => alice.agent.send(bob.account.jid, `m${i}`)));
    expect(await bob.agent.prekeyCount()).toBe((before ?? 0) - 1); // one claim for all twenty
    await expect.poll(() => received.length, { timeout: 30_000 }).toBe(20);
    expect(new Set(received).size).toBe(20);
  });
});
