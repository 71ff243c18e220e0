// Retention and shredding against real Prosody, Redis and archive files (issue 7): the sweep, run
// through its BullMQ queue with an injected clock, removes exactly the rows past the user's policy
// and the transit TTL and nothing else, and the sender learns which of its messages expired;
// shredding a user erases its wrapped key first, then its files, and a canary appears nowhere.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExpiredMessage, HistoryEntry, ReceivedMessage } from '../../src/agent/index.js';
import { canaryForms, scanFiles, scanRedis, scanRows } from '../../src/audit/index.js';
import { createRedis } from '../../src/workers/index.js';
import { services } from './helpers.js';
import { startAgent, startTestService } from './service-fixture.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function read(agent: { history(): AsyncGenerator<HistoryEntry, void, undefined> }): Promise<string[]> {
  const out: string[] = [];
  for await (const e of agent.history()) out.push(e.ok ? e.text() : `failed: ${e.error.message}`);
  return out;
}

describe('retention', () => {
  it('removes exactly the rows past the policy and the transit TTL, nothing else, and tells the sender what expired', async () => {
    const clock = { now: Date.now() };
    const ts = await startTestService({ SEALPOST_TRANSIT_TTL: '3600' }, { retentionClock: () => clock.now });
    const schedulers = await ts.service.retention.queue.getJobSchedulers();
    expect(schedulers.map((s) => s.pattern)).toEqual([ts.config.retentionCron]);

    const alice = await startAgent(ts, 'alice');
    const bobSaw: ReceivedMessage[] = [];
    const bob = await startAgent(ts, 'bob', { onMessage: (m) => void bobSaw.push(m) });
    const carolSaw: ReceivedMessage[] = [];
    const carol = await startAgent(ts, 'carol', { onMessage: (m) => void carolSaw.push(m) });
    const expired: ExpiredMessage[] = [];
    alice.agent.on('expired', (n) => expired.push(n));

    await alice.agent.send(bob.account.jid, 'old-1');
    await alice.agent.send(bob.account.jid, 'old-2');
    await alice.agent.send(carol.account.jid, 'carol-1');
    await expect.poll(() => bobSaw.length + carolSaw.length, { timeout: 20_000 }).toBe(3);
    await expect.poll(() => ts.service.archive.pendingCounts(bob.account.jid).messages, { timeout: 10_000 }).toBe(0);
    expect(await bob.agent.setRetention(7200)).toMatchObject({ user: 7200, effective: 7200 });
    await bob.agent.stop();
    await sleep(5); // the late message is stored strictly later than the old ones
    const late = await alice.agent.send(bob.account.jid, 'late-1'); // Bob is offline: it stays pending
    expect(ts.service.archive.pendingCounts(bob.account.jid).messages).toBe(1);

    const archive = ts.service.archive;
    const bobItems = archive.query(bob.account.jid, { max: 10 }).items;
    const lateAt = bobItems.find((i) => i.messageId === late.messageId)?.timestamp ?? 0;
    expect(bobItems.filter((i) => i.timestamp < lateAt)).toHaveLength(2);
    const aliceBefore = archive.query(alice.account.jid, { max: 10, count: true });
    const carolBefore = archive.query(carol.account.jid, { max: 10, count: true });
    expect([aliceBefore.count, carolBefore.count]).toEqual([4, 1]);

    // Bob's cutoff (now − 2 h) falls 1 ms before the late message: the two old ones go. The TTL
    // cutoff (now − 1 h) is after it: its undelivered copy expires, its history copy stays.
    clock.now = lateAt + 7_200_000 - 1;
    const result = await ts.service.retention.runNow();
    expect(result).toMatchObject({ users: 3, purged: 2, expired: 1, notices: 1, noticeFailures: 0, now: clock.now });
    const [job] = await ts.service.retention.queue.getJobs(['completed']);
    expect(job?.progress).toMatchObject({ users: 3, purged: 2, expired: 1 });

    expect(archive.query(bob.account.jid, { max: 10 }).items.map((i) => i.messageId)).toEqual([late.messageId]);
    expect(archive.pendingCounts(bob.account.jid).messages).toBe(0);
    expect(archive.query(alice.account.jid, { max: 10 }).items).toEqual(aliceBefore.items);
    expect(archive.query(carol.account.jid, { max: 10 }).items).toEqual(carolBefore.items);

    // The expiry notice reaches Alice, naming the message, the recipient and Bob's device.
    await expect.poll(() => expired.length, { timeout: 10_000 }).toBe(1);
    expect(expired[0]).toEqual({ messageId: late.messageId, recipient: bob.account.jid, reason: 'transit-ttl', devices: [bob.agent.device] });

    // Bob comes back: the late message is history only (no delivery), and it opens.
    const back = await bob.reopen({ onMessage: (m) => void bobSaw.push(m) });
    expect(await read(back)).toEqual(['late-1']);
    expect(await read(carol.agent)).toEqual(['carol-1']);
    expect(await read(alice.agent)).toEqual(['old-1', 'old-2', 'carol-1', 'late-1']);
    await sleep(500);
    expect(bobSaw.map((m) => m.text())).toEqual(['old-1', 'old-2']);

    const metric = await ts.service.metrics.registry.getSingleMetricAsString('sealpost_retention_total');
    expect(metric).toMatch(/action="purged"\} 2/);
    expect(metric).toMatch(/action="expired"\} 1/);

    // Nothing more is due at the same time; a day later Bob's last item goes too.
    expect(await ts.service.retention.runNow()).toMatchObject({ purged: 0, expired: 0, notices: 0 });
    clock.now += 86_400_000;
    expect(await ts.service.retention.runNow()).toMatchObject({ purged: 1, expired: 0, notices: 0 });
    expect(await read(back)).toEqual([]);
    expect(await read(carol.agent)).toEqual(['carol-1']);
  });
});

describe('shredding', () => {
  it("erases a user's wrapped key and files and its published devices; the canary appears nowhere", async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bobSaw: ReceivedMessage[] = [];
    const bob = await startAgent(ts, 'bob', { onMessage: (m) => void bobSaw.push(m) });
    const canary = `CANARY-${randomBytes(16).toString('hex')}`;
    await alice.agent.send(bob.account.jid, `lab result ${canary}`);
    await expect.poll(() => bobSaw.length, { timeout: 20_000 }).toBe(1);
    await bob.agent.stop();
    await alice.agent.send(bob.account.jid, `follow-up ${canary}`); // still pending when shredded

    const archive = ts.service.archive;
    const path = archive.userPath(bob.account.jid);
    expect(existsSync(path)).toBe(true);
    expect(archive.hasUser(bob.account.jid)).toBe(true);
    const report = ts.service.shred(bob.account.jid);
    expect(report).toMatchObject({ keyErased: true, keyringCheckpointed: true, devicesRemoved: 1 });
    expect(report.filesRemoved).toBeGreaterThanOrEqual(1);
    for (const suffix of ['', '-wal', '-shm', '-journal']) expect(existsSync(path + suffix)).toBe(false);
    expect(archive.hasUser(bob.account.jid)).toBe(false);
    expect(archive.query(bob.account.jid, { max: 10, count: true })).toMatchObject({ items: [], count: 0 });
    expect(ts.service.directory.devices(bob.account.jid)).toEqual([]);
    const metric = await ts.service.metrics.registry.getSingleMetricAsString('sealpost_retention_total');
    expect(metric).toMatch(/action="shredded"\} 1/);

    // The canary: not in Redis, not in any file of the service, Prosody or the logs, and not in
    // Alice's sent copies read with their at-rest key.
    const forms = canaryForms(canary);
    const redis = createRedis(services().redisUrl, 'worker');
    const inRedis = await scanRedis(redis, ts.config.queuePrefix, forms);
    await redis.quit();
    expect(inRedis.findings).toEqual([]);
    await ts.stop();
    const onDisk = scanFiles([ts.dataDir, services().xmpp.dataDir, join(alice.dir, 'outbox')], forms);
    expect(onDisk.scanned).toBeGreaterThan(3);
    expect(onDisk.findings).toEqual([]);
    const again = await ts.restart();
    expect(again.service.archive.auditRows(bob.account.jid)).toEqual([]);
    const aliceRows = again.service.archive.auditRows(alice.account.jid);
    expect(scanRows('alice archive', aliceRows, forms).findings).toEqual([]);
    expect(again.service.archive.hasUser(bob.account.jid)).toBe(false);
  });
});
