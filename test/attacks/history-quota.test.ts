// Attack 3 of issue 14, its second half: history copies in no quota. A copy sealed to the
// recipient's archive key stays after delivery, so the pending quota never bounds it: a sender
// could add copies to an online victim's archive for as long as it liked. Now copies count in a
// history quota per recipient (SEALPOST_HISTORY_MAX_COUNT/BYTES), of which one sender holds at
// most its share; past it the copy is refused with resource-constraint, and others still send.
import { describe, expect, it } from 'vitest';
import { rawSenderTo, startAgent, startTestService } from '../integration/service-fixture.js';
import { watchVaultStream } from './attacker.js';
import { expectRefused, publishRaw, redisFootprint, sealedBy, submitRaw } from './quota-fixture.js';

describe("attack: history copies flood a recipient's archive", () => {
  it("bounds one sender's history copies to its share of the recipient's history quota; an honest sender's copies are still kept", async () => {
    // Bob keeps at most 20 history copies; one sender at most half of them.
    const ts = await startTestService({ SEALPOST_HISTORY_MAX_COUNT: '20', SEALPOST_SENDER_SHARE: '50' });
    const stream = watchVaultStream(ts);
    const bob = await startAgent(ts, 'bob'); // online, with an archive key: he collects everything at once
    const fromAlice: string[] = [];
    const alice = await startAgent(ts, 'alice');
    bob.agent.onMessage((m) => void (m.from === alice.account.jid && fromAlice.push(m.text())));
    const mallory = await rawSenderTo(ts, bob.account.jid);
    await publishRaw(ts, mallory);
    const kept = (from: string): number => ts.service.archive.query(bob.account.jid, { with: from, max: 100 }).items.length;

    for (let i = 0; i < 10; i++) {
      const reply = await submitRaw(ts, mallory, sealedBy(mallory, bob.account.jid, 4096, true));
      expect(reply.attrs.type, 'a history copy within the share was refused').not.toBe('error');
    }
    // Bob collected them (nothing pending), yet the copies stay: only the history quota bounds them.
    await expect.poll(() => ts.service.archive.pendingCounts(bob.account.jid).messages, { timeout: 20_000 }).toBe(0);
    for (let i = 0; i < 15; i++) {
      const reply = await submitRaw(ts, mallory, sealedBy(mallory, bob.account.jid, 4096, true));
      expectRefused(reply, 'resource-constraint', /your history copies in \S+ archive are at your share of its history quota \(10 copies/, "a history copy past the sender's share was kept");
    }
    expect(kept(mallory.account.jid)).toBe(10);
    expect((await redisFootprint(ts)).failed, 'refused items kept as failed jobs').toBe(0);

    // Alice's messages (with their history copies) are still taken and arrive.
    for (const t of ['kept one', 'kept two']) await alice.agent.send(bob.account.jid, t);
    await expect.poll(() => fromAlice, { timeout: 20_000 }).toEqual(['kept one', 'kept two']);
    expect(kept(alice.account.jid)).toBe(2);
    stream.assertUp();
  });
});
