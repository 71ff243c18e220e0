// The delivery job on a real archive (temp files) with in-memory registry, scheduler and transport
// (issue 6): archive order, the unacknowledged window, one device's copies only, stop at
// unavailable, redelivery after the receipt timeout, giving up, new work while running, shutdown.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import {
  DeliveryHub,
  handleReceipt,
  processDeliver,
  type DeliverWorkerDeps,
  type DeliveryCopy,
  type DeliveryScheduler,
  type PresenceRegistry,
} from '../../../src/workers/index.js';
import { fixture, incoming, type Fixture } from '../archive/helpers.js';

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';
const A = 101;
const B = 202;

let f: Fixture;
let archive: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  archive = await f.open();
});
afterEach(() => f.cleanup());

interface Harness {
  deps: DeliverWorkerDeps;
  hub: DeliveryHub;
  sent: { to: string; item: DeliveryCopy }[];
  online: Map<number, string>;
  wanted: { value: boolean; finishes: number; released: number };
  /** Called for each send; return true to have the device acknowledge it. */
  ack: (item: DeliveryCopy, sent: number) => boolean;
  maxUnacked: number;
}

function harness(over: Partial<DeliverWorkerDeps> = {}): Harness {
  const hub = new DeliveryHub();
  const online = new Map<number, string>([[A, 'phone'], [B, 'laptop']]);
  const registry: PresenceRegistry = {
    available: () => Promise.resolve(undefined),
    unavailable: () => Promise.resolve(undefined),
    offline: () => Promise.resolve([]),
    deviceAt: (_jid, resource) => Promise.resolve([...online].find(([, r]) => r === resource)?.[0]),
    resourceOf: (_jid, device) => Promise.resolve(online.get(device)),
    touch: () => Promise.resolve(),
    advance: () => Promise.resolve(true),
  };
  const wanted = { value: false, finishes: 0, released: 0 };
  const scheduler: DeliveryScheduler = {
    request: () => Promise.resolve(false),
    begin: () => Promise.resolve(void (wanted.value = false)),
    finish: () => {
      wanted.finishes++;
      return Promise.resolve(!wanted.value);
    },
    release: () => Promise.resolve(void wanted.released++),
    refresh: () => Promise.resolve(),
  };
  const h: Harness = {
    hub,
    sent: [],
    online,
    wanted,
    ack: () => true,
    maxUnacked: 0,
    deps: undefined as unknown as DeliverWorkerDeps,
  };
  let acked = 0;
  h.deps = {
    archive,
    registry,
    scheduler,
    hub,
    window: 8,
    // Long enough that a receipt on a loaded machine (timers late by 100 ms and more) is not taken
    // for a lost copy: at 40 ms a CI run under load resent 8 of 50 copies.
    ackTimeoutMs: 400,
    pollMs: 10,
    logger: silentLogger(),
    metrics: createMetrics({ defaultMetrics: false }),
    transport: {
      send: (to, item) => {
        h.sent.push({ to, item });
        h.maxUnacked = Math.max(h.maxUnacked, h.sent.length - acked);
        if (h.ack(item, h.sent.length)) {
          // The device's receipt, a moment later, through the same path as in the service.
          setTimeout(() => {
            acked++;
            const resource = to.slice(to.indexOf('/') + 1);
            void handleReceipt({ jid: item.recipient, resource, sender: item.sender, messageId: item.messageId }, { archive, registry, hub, logger: silentLogger() });
          }, 1);
        }
        return Promise.resolve();
      },
    },
    ...over,
  };
  return h;
}

const store = (n: number, devices = [A], from = 0): string[] => {
  const ids: string[] = [];
  for (let i = from; i < from + n; i++) {
    archive.storeIncoming(BOB, incoming(i % 3 === 0 ? 'carol@example.org' : ALICE, `m${i}`, devices));
    ids.push(`m${i}`);
  }
  return ids;
};

describe('processDeliver', () => {
  it('sends every pending copy in archive order, never more than the window unacknowledged', async () => {
    const ids = store(50);
    const h = harness();
    const r = await processDeliver({ jid: BOB, device: A }, h.deps);
    expect(r.sent).toBe(50);
    expect(h.sent.map((s) => s.item.messageId)).toEqual(ids);
    expect(h.maxUnacked).toBeLessThanOrEqual(8);
    expect(h.sent.every((s) => s.to === `${BOB}/phone`)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(archive.pendingCounts(BOB).messages).toBe(0);
  });

  it("sends a device only its own copies, each with that device's key block", async () => {
    store(5, [A, B]);
    const h = harness();
    await processDeliver({ jid: BOB, device: B }, h.deps);
    expect(h.sent).toHaveLength(5);
    expect(h.sent.every((s) => s.item.device === B && s.to === `${BOB}/laptop`)).toBe(true);
    expect(archive.pendingFor(BOB, A, { limit: 100 })).toHaveLength(5); // A's copies untouched
  });

  it('stops when the device goes away; unacknowledged copies stay pending', async () => {
    store(30);
    const h = harness();
    h.ack = (_item, n) => {
      // The device's unavailable presence comes after the receipts it sent before leaving.
      if (n === 10)
        setTimeout(() => {
          h.online.delete(A);
          h.hub.gone(BOB, A);
        }, 5);
      return n <= 5;
    };
    await processDeliver({ jid: BOB, device: A }, h.deps);
    expect(h.sent.length).toBeLessThan(20);
    await new Promise((r) => setTimeout(r, 20));
    expect(archive.pendingFor(BOB, A, { limit: 100 }).map((p) => p.messageId)).toEqual(
      Array.from({ length: 25 }, (_, i) => `m${i + 5}`),
    );
  });

  it('sends unacknowledged copies again after the receipt timeout, counted as redeliveries', async () => {
    store(4);
    const h = harness();
    let dropped = false;
    h.ack = (item) => {
      if (item.messageId === 'm2' && !dropped) return !(dropped = true); // the first m2 is lost
      return true;
    };
    await processDeliver({ jid: BOB, device: A }, h.deps);
    expect(h.sent.map((s) => s.item.messageId)).toEqual(['m0', 'm1', 'm2', 'm3', 'm2']);
    expect(h.sent[4]?.item.attempts).toBe(1);
    expect(await h.deps.metrics?.registry.getSingleMetricAsString('sealpost_redeliveries_total')).toMatch(/ 1$/m);
  });

  it('gives up after maxRounds without any receipt, leaving everything pending', async () => {
    store(3);
    const h = harness({ maxRounds: 2 });
    h.ack = () => false;
    await processDeliver({ jid: BOB, device: A }, h.deps);
    expect(h.sent.map((s) => s.item.messageId)).toEqual(['m0', 'm1', 'm2', 'm0', 'm1', 'm2']);
    expect(archive.pendingCounts(BOB).messages).toBe(3);
  });

  it('goes round again when new work was wanted while it ran', async () => {
    store(3);
    const h = harness();
    h.ack = (_item, n) => {
      if (n === 3) {
        store(2, [A], 3);
        h.wanted.value = true;
      }
      return true;
    };
    await processDeliver({ jid: BOB, device: A }, h.deps);
    expect(h.sent.map((s) => s.item.messageId)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(h.wanted.finishes).toBeGreaterThanOrEqual(1);
  });

  it('ends at once on shutdown and releases its mark', async () => {
    store(3);
    const h = harness({ ackTimeoutMs: 60_000 });
    h.ack = () => false;
    const job = processDeliver({ jid: BOB, device: A }, h.deps);
    await new Promise((r) => setTimeout(r, 20));
    h.hub.shutdown();
    await job;
    expect(h.wanted.released).toBe(1);
    expect(h.hub.running).toBe(0);
  });

  it('ends at once when the device is not available', async () => {
    store(3);
    const h = harness();
    h.online.clear();
    expect(await processDeliver({ jid: BOB, device: A }, h.deps)).toEqual({ sent: 0 });
  });
});

describe('handleReceipt', () => {
  it("settles only the copy of the device registered at the receipt's resource", async () => {
    store(1, [A, B]);
    const h = harness();
    const deps = { archive, registry: h.deps.registry as PresenceRegistry, hub: h.hub, logger: silentLogger() };
    expect(await handleReceipt({ jid: BOB, resource: 'nowhere', sender: 'carol@example.org', messageId: 'm0' }, deps)).toBe('unknown-resource');
    expect(await handleReceipt({ jid: BOB, resource: 'laptop', sender: 'carol@example.org', messageId: 'm0' }, deps)).toBe('delivered');
    expect(await handleReceipt({ jid: BOB, resource: 'laptop', sender: 'carol@example.org', messageId: 'm0' }, deps)).toBe('repeat');
    expect(await handleReceipt({ jid: BOB, resource: 'laptop', sender: ALICE, messageId: 'm0' }, deps)).toBe('not-addressed');
    const state = archive.deliveryState(BOB, 'carol@example.org', 'm0');
    expect(state?.find((s) => s.deviceId === A)?.deliveredAt).toBeNull();
    expect(state?.find((s) => s.deviceId === B)?.deliveredAt).toBeTypeOf('number');
  });
});
