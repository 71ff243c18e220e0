// Delivery state (invariant 3, issue 6): per-device pending copies in arrival order, receipts,
// exact pending counters (checked against a model under random operations with fast-check).
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { fixture, incoming, type Fixture } from './helpers.js';

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';
const CAROL = 'carol@example.org';

describe('pendingFor', () => {
  it('returns each device its own copies in arrival order, paged by seq', () => {
    for (let i = 0; i < 10; i++) {
      store.storeIncoming(BOB, incoming(i % 2 === 0 ? ALICE : CAROL, `m${i}`, i % 3 === 0 ? [1, 2] : [1]));
    }
    const first = store.pendingFor(BOB, 1, { limit: 4 });
    const rest = store.pendingFor(BOB, 1, { afterSeq: first.at(-1)?.seq ?? 0, limit: 100 });
    expect([...first, ...rest].map((p) => p.messageId)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    expect(store.pendingFor(BOB, 2, { limit: 100 }).map((p) => p.messageId)).toEqual(['m0', 'm3', 'm6', 'm9']);
    expect(store.pendingFor(BOB, 2, { limit: 100 }).every((p) => p.keyBlock.deviceId === 2)).toBe(true);
    expect(store.pendingFor(BOB, 3, { limit: 100 })).toEqual([]);
  });

  it('returns nothing for a user without an archive, without creating one', () => {
    expect(store.pendingFor('nobody@example.org', 1, { limit: 10 })).toEqual([]);
    expect(store.pendingCounts('nobody@example.org')).toEqual({ messages: 0, bytes: 0 });
    expect(store.hasUser('nobody@example.org')).toBe(false);
  });

  it('counts attempts on pending copies only', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1', [1]));
    const [p] = store.pendingFor(BOB, 1, { limit: 1 });
    expect(store.markAttempted(BOB, 1, [p?.seq ?? 0])).toBe(1);
    expect(store.markAttempted(BOB, 1, [p?.seq ?? 0])).toBe(1);
    expect(store.pendingFor(BOB, 1, { limit: 1 })[0]?.attempts).toBe(2);
    store.markDelivered(BOB, 1, ALICE, 'm1');
    expect(store.markAttempted(BOB, 1, [p?.seq ?? 0])).toBe(0);
  });
});

describe('markDelivered', () => {
  it('ends one device copy; the message is fully delivered after the last device', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1', [1, 2]));
    f.clock.t += 5000;
    expect(store.markDelivered(BOB, 1, ALICE, 'm1')).toEqual({ found: true, changed: true, fullyDelivered: false });
    expect(store.markDelivered(BOB, 1, ALICE, 'm1')).toEqual({ found: true, changed: false, fullyDelivered: false });
    expect(store.pendingFor(BOB, 1, { limit: 10 })).toEqual([]);
    expect(store.pendingFor(BOB, 2, { limit: 10 })).toHaveLength(1);
    expect(store.markDelivered(BOB, 2, ALICE, 'm1')).toEqual({ found: true, changed: true, fullyDelivered: true });
    expect(store.deliveryState(BOB, ALICE, 'm1')).toEqual([
      { deviceId: 1, deliveredAt: f.clock.t, attempts: 0 },
      { deviceId: 2, deliveredAt: f.clock.t, attempts: 0 },
    ]);
  });

  it('reports an unknown message or a device it was not addressed to as not found', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1', [1]));
    expect(store.markDelivered(BOB, 1, ALICE, 'nope').found).toBe(false);
    expect(store.markDelivered(BOB, 9, ALICE, 'm1')).toMatchObject({ found: false, changed: false });
    expect(store.markDelivered(BOB, 1, CAROL, 'm1').found).toBe(false);
    expect(store.pendingFor(BOB, 1, { limit: 10 })).toHaveLength(1);
  });

  it('keeps the history copy after delivery and keeps dedupe for a transit-only message', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'h', [1]));
    store.storeIncoming(BOB, incoming(ALICE, 't', [1], { ak: false }));
    store.markDelivered(BOB, 1, ALICE, 'h');
    store.markDelivered(BOB, 1, ALICE, 't');
    expect(store.query(BOB, { max: 10 }).items.map((i) => i.messageId)).toEqual(['h']);
    // A resend of the delivered transit-only message is recognised, not delivered again.
    const again = store.storeIncoming(BOB, incoming(ALICE, 't', [1], { ak: false }));
    expect(again.inserted).toBe(false);
    expect(store.pendingFor(BOB, 1, { limit: 10 })).toEqual([]);
  });
});

describe('pendingCounts', () => {
  it('counts undelivered messages and their payload plus undelivered key block bytes', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'a', [1, 2], { payloadBytes: 1000, blockBytes: 100 }));
    store.storeIncoming(BOB, incoming(ALICE, 'b', [1], { payloadBytes: 500, blockBytes: 50 }));
    expect(store.pendingCounts(BOB)).toEqual({ messages: 2, bytes: 1000 + 200 + 500 + 50 });
    store.markDelivered(BOB, 1, ALICE, 'a');
    expect(store.pendingCounts(BOB)).toEqual({ messages: 2, bytes: 1000 + 100 + 500 + 50 });
    store.markDelivered(BOB, 2, ALICE, 'a');
    expect(store.pendingCounts(BOB)).toEqual({ messages: 1, bytes: 550 });
  });

  it('stays equal to a model under random stores, receipts, deletes and expiry', async () => {
    type Op =
      | { k: 'store'; id: number; devices: number[]; ak: boolean; size: number }
      | { k: 'deliver'; id: number; device: number }
      | { k: 'delete'; id: number }
      | { k: 'expire'; age: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('store' as const), id: fc.nat(12), devices: fc.uniqueArray(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), ak: fc.boolean(), size: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ k: fc.constant('deliver' as const), id: fc.nat(12), device: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ k: fc.constant('delete' as const), id: fc.nat(12) }),
      fc.record({ k: fc.constant('expire' as const), age: fc.integer({ min: 1, max: 30 }) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const s = await f.open();
        const owner = `u${run++}@example.org`;
        const model = new Map<number, { pending: Map<number, number>; payload: number; at: number; ak: boolean; archiveId: string }>();
        let t = 0;
        for (const o of ops) {
          t += 1000;
          f.clock.t = t;
          if (o.k === 'store') {
            const r = s.storeIncoming(owner, incoming(ALICE, `m${o.id}`, o.devices, { ak: o.ak, payloadBytes: o.size, blockBytes: 10 + o.size % 7 }));
            expect(r.inserted).toBe(!model.has(o.id));
            if (r.inserted)
              model.set(o.id, { pending: new Map(o.devices.map((d) => [d, 10 + o.size % 7])), payload: o.size, at: t, ak: o.ak, archiveId: r.archiveId });
          } else if (o.k === 'deliver') {
            s.markDelivered(owner, o.device, ALICE, `m${o.id}`);
            model.get(o.id)?.pending.delete(o.device);
          } else if (o.k === 'delete') {
            const m = model.get(o.id);
            if (m?.ak === true) {
              s.deleteItems(owner, { ids: [m.archiveId] });
              model.delete(o.id);
            }
          } else {
            const cutoff = t - o.age * 1000;
            const res = s.expireTransit(owner, t, o.age, 1000);
            const expected = [...model.entries()].filter(([, m]) => m.at < cutoff && m.pending.size > 0).map(([id]) => `m${id}`);
            expect(res.expired.map((e) => e.messageId).sort()).toEqual(expected.sort());
            // Expired copies go; so do dedupe tombstones (delivered, no history copy) past the TTL.
            for (const [id, m] of model) {
              if (m.at >= cutoff) continue;
              m.pending.clear();
              if (!m.ak) model.delete(id);
            }
          }
          const pending = [...model.values()].filter((m) => m.pending.size > 0);
          const bytes = pending.reduce((n, m) => n + m.payload + [...m.pending.values()].reduce((a, b) => a + b, 0), 0);
          expect(s.pendingCounts(owner)).toEqual({ messages: pending.length, bytes });
        }
      }),
      { numRuns: 60 },
    );
  });
});
