// Delivery batches on a real archive (issue 9): a device whose session said it takes batches gets
// its copies several to a stanza (in archive order, within the window and its stated size), one
// that did not gets them one by one; the receipts of one stanza are recorded in one transaction,
// each counted on its own (delivered, repeat, not addressed), and a receipt from an unregistered
// resource changes nothing.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import {
  batchCopies,
  DeliveryHub,
  handleReceipts,
  processDeliver,
  type DeliveryCopy,
  type DeliveryScheduler,
  type PresenceRegistry,
} from '../../../src/workers/index.js';
import { BATCH_MAX_BYTES, BATCH_MAX_COPIES } from '../../../src/workers/deliver-worker.js';
import { fixture, incoming, type Fixture } from '../archive/helpers.js';

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';
const A = 101;

let f: Fixture;
let archive: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  archive = await f.open();
});
afterEach(() => f.cleanup());

function registry(batch: number | undefined): PresenceRegistry {
  return {
    available: () => Promise.resolve(undefined),
    unavailable: () => Promise.resolve(undefined),
    offline: () => Promise.resolve([]),
    deviceAt: (_jid, resource) => Promise.resolve(resource === 'phone' ? A : undefined),
    resourceOf: (_jid, device) => Promise.resolve(device === A ? 'phone' : undefined),
    batchOf: () => Promise.resolve(batch),
    touch: () => Promise.resolve(),
    advance: () => Promise.resolve(true),
  };
}

const scheduler: DeliveryScheduler = {
  request: () => Promise.resolve(false),
  begin: () => Promise.resolve(),
  finish: () => Promise.resolve(true),
  release: () => Promise.resolve(),
  refresh: () => Promise.resolve(),
};

/** Runs a delivery job whose device acknowledges every stanza at once, all its copies in one receipt stanza. */
async function deliver(batch: number | undefined, window = 16): Promise<{ stanzas: DeliveryCopy[][] }> {
  const hub = new DeliveryHub();
  const reg = registry(batch);
  const stanzas: DeliveryCopy[][] = [];
  const ack = (copies: readonly DeliveryCopy[]): void => {
    setTimeout(() => {
      void handleReceipts(
        { jid: BOB, resource: 'phone', receipts: copies.map((c) => ({ sender: c.sender, messageId: c.messageId })) },
        { archive, registry: reg, hub, logger: silentLogger() },
      );
    }, 1);
  };
  await processDeliver(
    { jid: BOB, device: A },
    {
      archive,
      registry: reg,
      scheduler,
      hub,
      window,
      ackTimeoutMs: 200,
      pollMs: 10,
      logger: silentLogger(),
      metrics: createMetrics({ defaultMetrics: false }),
      transport: {
        send: (_to, copy) => {
          stanzas.push([copy]);
          ack([copy]);
          return Promise.resolve();
        },
        sendMany: (_to, copies) => {
          stanzas.push([...copies]);
          ack(copies);
          return Promise.resolve();
        },
      },
    },
  );
  return { stanzas };
}

const store = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => {
    archive.storeIncoming(BOB, incoming(ALICE, `m${i}`, [A]));
    return `m${i}`;
  });

describe('delivery batches', () => {
  it('go to a device that takes them, in archive order, within its stated size and the window', async () => {
    const ids = store(50);
    const { stanzas } = await deliver(8);
    expect(stanzas.flat().map((c) => c.messageId)).toEqual(ids);
    expect(Math.max(...stanzas.map((s) => s.length))).toBe(8);
    expect(stanzas.length).toBeLessThan(50);
    await new Promise((r) => setTimeout(r, 20));
    expect(archive.pendingCounts(BOB).messages).toBe(0);
  });

  it('are not sent to a device that did not say it takes them', async () => {
    const ids = store(12);
    const { stanzas } = await deliver(undefined);
    expect(stanzas.map((s) => s.length)).toEqual(ids.map(() => 1));
    expect(stanzas.flat().map((c) => c.messageId)).toEqual(ids);
  });

  it('are cut by count and by size; a large copy goes alone', () => {
    const copy = (payloadBytes: number, i: number): DeliveryCopy => ({
      recipient: BOB,
      sender: ALICE,
      senderDevice: 7,
      messageId: `c${i}`,
      suite: 'sp1',
      receivedAt: 0,
      payload: new Uint8Array(payloadBytes),
      device: A,
      prekeyId: 1,
      keyBlock: new Uint8Array(200),
      attempts: 0,
    });
    const small = Array.from({ length: BATCH_MAX_COPIES + 5 }, (_, i) => copy(100, i));
    expect(batchCopies(small).map((b) => b.length)).toEqual([BATCH_MAX_COPIES, 5]);
    expect(batchCopies(small, 4).every((b) => b.length <= 4)).toBe(true);
    const big = [copy(100, 0), copy(BATCH_MAX_BYTES, 1), copy(100, 2)];
    expect(batchCopies(big).map((b) => b.map((c) => c.messageId))).toEqual([['c0'], ['c1'], ['c2']]);
  });
});

describe('receipts of one stanza', () => {
  it('are recorded together, each counted on its own', async () => {
    store(3);
    const hub = new DeliveryHub();
    const deps = { archive, registry: registry(8), hub, logger: silentLogger(), metrics: createMetrics({ defaultMetrics: false }) };
    const receipts = [
      { sender: ALICE, messageId: 'm0' },
      { sender: ALICE, messageId: 'm1' },
      { sender: ALICE, messageId: 'unknown' },
    ];
    expect(await handleReceipts({ jid: BOB, resource: 'phone', receipts }, deps)).toEqual(['delivered', 'delivered', 'not-addressed']);
    expect(await handleReceipts({ jid: BOB, resource: 'phone', receipts: receipts.slice(0, 2) }, deps)).toEqual(['repeat', 'repeat']);
    expect(archive.pendingFor(BOB, A, { limit: 10 }).map((p) => p.messageId)).toEqual(['m2']);
    expect(await handleReceipts({ jid: BOB, resource: 'elsewhere', receipts: [{ sender: ALICE, messageId: 'm2' }, { sender: ALICE, messageId: 'm2' }] }, deps)).toEqual([
      'unknown-resource',
      'unknown-resource',
    ]);
    expect(archive.pendingCounts(BOB).messages).toBe(1);
  });
});
