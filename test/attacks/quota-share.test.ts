// Attack 1 of issue 14: one sender fills a recipient's pending quota. The quota was checked only
// by the store worker, after the item was queued (its ciphertext in Redis, refused later), and one
// sender could hold all of it: a noisy account sending to an offline victim blocked every other
// sender until the victim came back. Now a sender holds at most SEALPOST_SENDER_SHARE percent of a
// recipient's pending quota, and the ingest refuses an item past it at once: no job, nothing kept.
import { describe, expect, it } from 'vitest';
import { rawSenderTo, startAgent, startTestService } from '../integration/service-fixture.js';
import { watchVaultStream } from './attacker.js';
import { expectRefused, redisFootprint, sealedBy, submitRaw } from './quota-fixture.js';

const ITEM_BYTES = 16 * 1024;

describe("attack: one sender fills a recipient's pending quota", () => {
  it("refuses the sender past its share at once with nothing queued, and an honest sender's messages still arrive", async () => {
    // Bob may hold 20 undelivered messages; one sender at most half of them.
    const ts = await startTestService({ SEALPOST_PENDING_MAX_COUNT: '20', SEALPOST_SENDER_SHARE: '50' });
    const stream = watchVaultStream(ts);
    const bob = await startAgent(ts, 'bob');
    const mallory = await rawSenderTo(ts, bob.account.jid);
    await bob.agent.stop(); // offline: what is sent to Bob waits at the vault

    for (let i = 0; i < 10; i++) {
      const reply = await submitRaw(ts, mallory, sealedBy(mallory, bob.account.jid, ITEM_BYTES));
      expect(reply.attrs.type, 'an item within the share was refused').not.toBe('error');
    }
    const jobs = async (): Promise<number> => Object.values(await ts.service.queues.store.getJobCounts('waiting', 'active', 'delayed', 'completed')).reduce((a, b) => a + b, 0);
    await expect.poll(jobs, { timeout: 10_000 }).toBe(0);
    const before = await redisFootprint(ts);

    // The flood: every item past the share is refused by the ingest, before any job exists.
    for (let i = 0; i < 30; i++) {
      const reply = await submitRaw(ts, mallory, sealedBy(mallory, bob.account.jid, ITEM_BYTES));
      expectRefused(reply, 'resource-constraint', /your undelivered messages to \S+ are at your share of its pending quota \(10 messages/, "an item past the sender's share was accepted");
    }
    const after = await redisFootprint(ts);
    expect(await jobs(), 'refused items queued as jobs').toBe(0);
    expect(after.failed, 'refused items kept as failed jobs').toBe(0);
    expect(after.keys, 'refused items left keys in Redis').toEqual(before.keys);
    // 30 refused items carried about 650 KB of base64; Redis holds none of it.
    expect(after.bytes - before.bytes, 'Redis grew with refused items').toBeLessThan(4096);
    expect(ts.service.archive.quotaUsage(bob.account.jid, [mallory.account.jid]).senders.get(mallory.account.jid)?.pendingMessages).toBe(10);

    // An honest sender still reaches Bob, and Bob gets its messages when he comes back.
    const alice = await startAgent(ts, 'alice');
    const texts = ['first', 'second', 'third'];
    for (const t of texts) await alice.agent.send(bob.account.jid, t); // resolves on the vault's receipt
    const got: string[] = [];
    await bob.reopen({ onMessage: (m) => void (m.from === alice.account.jid && got.push(m.text())) });
    await expect.poll(() => got, { timeout: 30_000 }).toEqual(texts);
    stream.assertUp();
  });

  it('holds the share exactly when the sender does not wait for answers (items race past the ingest: the owner refuses them)', async () => {
    const ts = await startTestService({ SEALPOST_PENDING_MAX_COUNT: '20', SEALPOST_SENDER_SHARE: '50' });
    const bob = await startAgent(ts, 'bob');
    const mallory = await rawSenderTo(ts, bob.account.jid);
    await bob.agent.stop();
    // 40 submissions at once: the ingest sees the owner's use only as fast as the owner stores.
    const replies = await Promise.all(Array.from({ length: 40 }, () => submitRaw(ts, mallory, sealedBy(mallory, bob.account.jid, 1024), 30_000)));
    const stored = replies.filter((r) => r.attrs.type !== 'error');
    expect(stored, 'more than the share was stored').toHaveLength(10);
    for (const r of replies.filter((x) => x.attrs.type === 'error'))
      expectRefused(r, 'resource-constraint', /at your share of its pending quota/, 'a refusal of another kind');
    expect(ts.service.archive.pendingCounts(bob.account.jid).messages).toBe(10);
    const after = await redisFootprint(ts);
    expect(after.failed, 'refused items kept as failed jobs').toBe(0);
    await expect.poll(async () => Object.values(await ts.service.queues.store.getJobCounts('waiting', 'active', 'delayed', 'completed')).reduce((a, b) => a + b, 0), { timeout: 10_000 }).toBe(0);
  });
});
