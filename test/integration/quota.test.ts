// The quota's two halves on real Redis and a real archive (issue 14): the owner's mirror writes
// each recipient's use after every archive write, the ingest's gate reads it and refuses past the
// recipient's bounds or the sender's share, exactly as the owner's own check would; a shred
// removes the hash, a stale one expires, and nothing in Redis names a JID.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createArchiveStore, type IncomingItem } from '../../src/archive/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createQuotaGate, createUsageMirror, mirrorWrites, shardTagOf, usageKey, USAGE_TTL_SECONDS, type Cost, type QuotaLimits } from '../../src/quota/index.js';
import { testQueues } from './helpers.js';

const BOB = 'bob@example.org';
const MALLORY = 'mallory@example.org';
const ALICE = 'alice@example.org';
const LIMITS: QuotaLimits = { pendingMaxCount: 8, pendingMaxBytes: 1 << 20, historyMaxCount: 6, historyMaxBytes: 1 << 20, senderSharePercent: 50 };

const item = (sender: string, id: string, history: boolean): IncomingItem => ({
  sender,
  senderDevice: 1,
  messageId: id,
  suite: 'sp1',
  payload: new Uint8Array(randomBytes(100)),
  deviceBlocks: [{ deviceId: 7, prekeyId: 1, block: new Uint8Array(randomBytes(120)) }],
  archiveBlock: history ? { akId: 1, block: new Uint8Array(randomBytes(120)) } : undefined,
});
const cost = (history: boolean): Cost => ({ pending: true, pendingBytes: 220, kept: history, keptBytes: history ? 220 : 0 });

async function setup() {
  const { prefix, producer, queues } = await testQueues(2);
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-quota-'));
  const raw = await createArchiveStore({ dir, masterKey: new Uint8Array(randomBytes(32)), cipher: 'chacha20' });
  onTestFinished(async () => {
    raw.close();
    rmSync(dir, { recursive: true, force: true });
    const keys = await producer.keys(`${prefix}:*`);
    if (keys.length > 0) await producer.del(...keys);
  });
  const tagOf = shardTagOf(queues.store);
  const mirror = createUsageMirror({ redis: producer, prefix, tagOf, archive: raw, logger: silentLogger() });
  const archive = mirrorWrites(raw, mirror, silentLogger());
  const gate = createQuotaGate({ redis: producer, prefix, tagOf, limits: LIMITS });
  const settle = async () => void (await producer.ping()); // the mirror's writes went before on this connection
  return { prefix, producer, archive, gate, tagOf, settle };
}

describe('quota mirror and gate', () => {
  it("refuses past the sender's share and the recipient's total at the gate, from what the owner published", async () => {
    const { archive, gate, settle } = await setup();
    for (let i = 0; i < 3; i++) archive.storeIncoming(BOB, item(MALLORY, `m${i}`, false));
    await settle();
    // Mallory's share is 4 of 8: one more passes, the next in the same check is refused.
    const verdicts = await gate.check(BOB, MALLORY, [cost(false), cost(false)]);
    expect(verdicts[0]).toBeUndefined();
    expect(verdicts[1]?.code).toBe(ErrorCode.ResourceLimit);
    expect(verdicts[1]?.message).toMatch(/share of its pending quota \(4 messages/);
    // Alice has her own share; Bob's total (8) bounds them together.
    expect(await gate.check(BOB, ALICE, [cost(false), cost(false), cost(false), cost(false)])).toEqual([undefined, undefined, undefined, undefined]);
    archive.storeIncomingMany(BOB, [item(MALLORY, 'm3', false), ...[0, 1, 2, 3].map((i) => item(ALICE, `a${i}`, false))]);
    await settle();
    const full = await gate.check(BOB, 'carol@example.org', [cost(false)]);
    expect(full[0]?.message).toMatch(/has too many undelivered messages/);
    // Receipts free Mallory's share again.
    archive.markDeliveredMany(BOB, 7, [0, 1].map((i) => ({ sender: MALLORY, messageId: `m${i}` })));
    await settle();
    expect(await gate.check(BOB, MALLORY, [cost(false), cost(false), cost(false)])).toEqual([undefined, undefined, expect.anything()]);
  });

  it('counts history copies in their own quota, survives deliveries, and is rewritten whole by a delete', async () => {
    const { archive, gate, settle } = await setup();
    for (let i = 0; i < 3; i++) archive.storeIncoming(BOB, item(MALLORY, `h${i}`, true));
    archive.markDeliveredMany(BOB, 7, [0, 1, 2].map((i) => ({ sender: MALLORY, messageId: `h${i}` })));
    await settle();
    const [refused] = await gate.check(BOB, MALLORY, [cost(true)]);
    expect(refused?.message).toMatch(/history copies in \S+ archive are at your share of its history quota \(3 copies/);
    expect(await gate.check(BOB, MALLORY, [cost(false)])).toEqual([undefined]); // without a copy it is only pending
    expect(archive.deleteItems(BOB, { with: MALLORY })).toBe(3);
    await settle();
    expect(await gate.check(BOB, MALLORY, [cost(true)])).toEqual([undefined]);
  });

  it('removes the hash on shred, sets it to expire, and names no JID in Redis', async () => {
    const { prefix, producer, archive, tagOf, settle } = await setup();
    archive.storeIncoming(BOB, item(MALLORY, 'x', true));
    await settle();
    const key = usageKey(prefix, tagOf(BOB), BOB);
    expect(await producer.exists(key)).toBe(1);
    expect(key.startsWith(`${prefix}:${tagOf(BOB)}:quota:`)).toBe(true);
    const ttl = await producer.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(USAGE_TTL_SECONDS);
    const dump = JSON.stringify([await producer.keys(`${prefix}:*`), await producer.hgetall(key)]);
    for (const jid of [BOB, MALLORY, 'bob', 'mallory']) expect(dump).not.toContain(jid);
    archive.shredUser(BOB);
    await settle();
    expect(await producer.exists(key)).toBe(0);
  });
});
