// Fault test (issue 9): the XMPP server crashes (SIGKILL) and comes back while 2,000 stored
// messages are being delivered. The service and both agents run against a Prosody of their own,
// so the crash disturbs no other test. Everyone reconnects by themselves, delivery finishes, and
// the recipient's application sees every message once, in order (invariant 3); nothing is lost.
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { privateWorld, seededRandom, waitUntil } from './fault-fixture.js';

const N = 2000;

describe('fault: Prosody restarts', () => {
  it('SIGKILL of Prosody mid-delivery: the service and agents reconnect by themselves and delivery finishes, each message once, in order', async () => {
    const rnd = seededRandom('faults-prosody');
    const world = await privateWorld({ SEALPOST_SENDER_RATE: '1000000' });
    const alice = await world.agent('alice');
    const bob = await world.agent('bob');
    await bob.agent.stop();

    const t0 = Date.now();
    const first = await alice.agent.send(bob.jid, 'm0');
    const ids = [first.messageId, ...(await Promise.all(Array.from({ length: N - 1 }, (_, i) => alice.agent.send(bob.jid, `m${i + 1}`)))).map((r) => r.messageId)];
    const storedMs = Date.now() - t0;
    const pending = (): number => world.service.archive.pendingCounts(bob.jid).messages;
    expect(pending()).toBe(N);
    // The order the vault must keep: its archive's (the store keeps each sender's order, invariant 3).
    const device = bob.agent.device;
    const page1 = world.service.archive.pendingFor(bob.jid, device, { limit: 1000 });
    const page2 = world.service.archive.pendingFor(bob.jid, device, { limit: 1000, afterSeq: page1.at(-1)?.seq ?? 0 });
    const archiveOrder = [...page1, ...page2].map((p) => p.messageId);
    expect([...archiveOrder].sort()).toEqual([...ids].sort());

    const seen: ReceivedMessage[] = [];
    const t1 = Date.now();
    await bob.reopen({ onMessage: (m) => void seen.push(m) });
    const mark = rnd.between(100, N - 600);
    await waitUntil(`${mark} delivered`, () => seen.length >= mark, 30_000, () => `${seen.length} delivered`);
    const atCrash = seen.length;
    const t2 = Date.now();
    await world.prosody.restart('SIGKILL');
    const restartMs = Date.now() - t2;

    await waitUntil(`all ${N} delivered`, () => seen.length >= N, 45_000, () => `${seen.length} delivered, ${pending()} pending`);
    await waitUntil('all acknowledged', () => pending() === 0, 20_000, () => `${pending()} pending`);
    const deliveredMs = Date.now() - t1;
    const reconnectedMs = Date.now() - t2;
    process.stderr.write(
      `[faults-prosody] ${N} stored in ${storedMs} ms; Prosody killed after ${atCrash} delivered and back in ${restartMs} ms; all ${N} delivered and acknowledged ${deliveredMs} ms after Bob came online (${reconnectedMs} ms after the crash)\n`,
    );

    expect(seen.map((m) => m.messageId)).toEqual(archiveOrder); // each once, in order
    expect(world.service.conn.status).toBe('online');
    // The vault is available again: a new submission after the crash is stored and acknowledged.
    const after = await alice.agent.send(bob.jid, 'after the crash');
    await waitUntil('the message after the crash delivered', () => seen.length === N + 1, 15_000);
    expect(seen.at(-1)?.messageId).toBe(after.messageId);
  });
});
