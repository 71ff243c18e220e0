// Files through the vault (issue 17) against real Prosody, Redis and files: a random file to an
// offline recipient is uploaded as ciphertext, announced by a sealed manifest, saved by the
// recipient with its SHA-256 equal to the original, kept while the history copy refers to it and
// erased with its message (deletion, shredding, transit expiry, delivery without a history copy);
// its canary appears in no Redis key, vault file or log.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage, SavedFile } from '../../src/agent/index.js';
import { canaryForms, scanFiles, scanRedis } from '../../src/audit/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { createRedis } from '../../src/workers/index.js';
import { xml } from '../../src/xmpp/index.js';
import { blobsOn, randomFile, sha256Of, tempDir } from './files-fixture.js';
import { connectFreshAccount, services } from './helpers.js';
import { startAgent, startTestService } from './service-fixture.js';

describe('files through the vault', () => {
  it('moves a 12 MiB file to an offline recipient, verified by SHA-256; the blob lives as long as the history item; the canary appears nowhere', async () => {
    const ts = await startTestService();
    const work = tempDir('sealpost-files-');
    const file = await randomFile(work, 12);
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop(); // offline: the manifest waits at the vault

    // The vault advertises the service and its maximum (XEP-0363 §4 via XEP-0030).
    const { conn } = await connectFreshAccount('disco');
    const disco = await conn.sendReceive(xml('iq', { type: 'get', to: ts.service.conn.jid }, xml('query', { xmlns: NS.discoInfo })));
    const info = disco.getChild('query', NS.discoInfo);
    expect(info?.getChildren('feature').map((f) => String(f.attrs.var))).toContain(NS.upload);
    expect(info?.getChild('x', NS.dataForms)?.getChildren('field').find((f) => f.attrs.var === 'max-file-size')?.getChildText('value')).toBe(String(ts.config.maxFileBytes));

    const sent = await alice.agent.sendFile(bob.account.jid, file.path, { contentType: 'application/x-ecg' });
    expect(sent.sha256).toBe(file.sha256);
    expect(sent.size).toBe(file.size);
    const blobs = blobsOn(ts.dataDir);
    expect(blobs).toHaveLength(1);
    expect(blobs[0]?.size).toBeGreaterThan(file.size); // ciphertext: the plaintext plus a tag per chunk

    const saved: SavedFile[] = [];
    const seen: ReceivedMessage[] = [];
    const out = tempDir('sealpost-saved-');
    await bob.reopen({
      onMessage: async (m) => {
        seen.push(m);
        const f = m.file();
        if (f !== undefined) saved.push(await m.saveTo(join(out, 'received.bin')));
      },
    });
    await expect.poll(() => saved.length, { timeout: 60_000 }).toBe(1);
    expect(seen[0]?.file()).toEqual({ name: file.path.split('/').pop(), size: file.size, contentType: 'application/x-ecg', sha256: file.sha256 });
    expect(seen[0]?.from).toBe(alice.account.jid);
    expect(sha256Of(join(out, 'received.bin'))).toBe(file.sha256);

    // Bob has an archive key, so his history copy keeps the blob after delivery...
    const archive = ts.service.archive;
    await expect.poll(() => archive.deliveryState(bob.account.jid, alice.account.jid, sent.messageId)?.every((d) => d.deliveredAt !== null), { timeout: 20_000 }).toBe(true);
    ts.service.upload?.sweep();
    expect(blobsOn(ts.dataDir)).toHaveLength(1);
    // ...until he deletes that history item.
    const reopened = await bob.reopen();
    expect(await reopened.deleteHistory({ all: true })).toBeGreaterThanOrEqual(1);
    expect(ts.service.upload?.sweep()).toBe(1);
    expect(blobsOn(ts.dataDir)).toEqual([]);

    // The canary: in no Redis key, no file of the vault (archives, blobs, logs), no Prosody file,
    // not in the sender's outbox or its sealed-file spool.
    const forms = canaryForms(file.canary);
    const redis = createRedis(services().redisUrl, 'worker');
    const inRedis = await scanRedis(redis, ts.config.queuePrefix, forms);
    await redis.quit();
    expect(inRedis.findings).toEqual([]);
    await ts.stop();
    const onDisk = scanFiles([ts.dataDir, services().xmpp.dataDir, alice.dir], forms);
    expect(onDisk.findings).toEqual([]);
    // The scan would see it: the original and the saved copy carry it.
    expect(scanFiles([file.path], forms).findings.length).toBeGreaterThan(0);
  });

  it('erases the blob of a pending file when the recipient is shredded', async () => {
    const ts = await startTestService();
    const work = tempDir('sealpost-files-');
    const file = await randomFile(work, 2);
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    await alice.agent.sendFile(bob.account.jid, file.path);
    expect(blobsOn(ts.dataDir)).toHaveLength(1);
    ts.service.shred(bob.account.jid);
    expect(blobsOn(ts.dataDir)).toEqual([]);
  });

  it('erases the blob once its message is gone: expired in transit, or delivered to a recipient without a history copy', async () => {
    const clock = { now: Date.now() };
    const ts = await startTestService({ SEALPOST_TRANSIT_TTL: '3600' }, { retentionClock: () => clock.now });
    const work = tempDir('sealpost-files-');
    const alice = await startAgent(ts, 'alice');
    const carol = await startAgent(ts, 'carol', { archiveKey: false }); // no archive key: no history copy
    const dave = await startAgent(ts, 'dave', { archiveKey: false });
    await carol.agent.stop();
    await dave.agent.stop();
    const forCarol = await randomFile(work, 1);
    await alice.agent.sendFile(carol.account.jid, forCarol.path);
    await alice.agent.sendFile(dave.account.jid, (await randomFile(work, 1)).path);
    ts.service.upload?.sweep(); // both messages stored: their blobs are now tied to them
    expect(blobsOn(ts.dataDir)).toHaveLength(2);

    // Carol takes hers; once her receipt is in, nothing refers to the blob any more.
    const saved: string[] = [];
    await carol.reopen({ onMessage: async (m) => void saved.push((await m.saveTo(join(work, 'carol.bin'))).sha256) });
    await expect.poll(() => saved, { timeout: 30_000 }).toEqual([forCarol.sha256]);
    await expect.poll(() => ts.service.archive.pendingCounts(carol.account.jid).messages, { timeout: 20_000 }).toBe(0);
    expect(ts.service.upload?.sweep()).toBe(1);
    expect(blobsOn(ts.dataDir)).toHaveLength(1);

    // Dave never comes: his copy expires with the transit TTL, and the blob with it.
    clock.now += 2 * 3600_000;
    await ts.service.retention.runNow();
    expect(ts.service.upload?.sweep()).toBe(1);
    expect(blobsOn(ts.dataDir)).toEqual([]);
  });
});
