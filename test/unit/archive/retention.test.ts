// Retention (issue 7) with an injected clock: purge removes exactly the rows past the policy, in
// bounded batches; transit expiry returns exactly the expired (sender, message id, devices).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { caught, fixture, incoming, outgoing, T0, type Fixture } from './helpers.js';

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';
const CAROL = 'carol@example.org';
const HOUR = 3600;

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

function ids(jid = BOB): string[] {
  return store.query(jid, { max: 1000 }).items.map((i) => i.messageId);
}

describe('retention policy', () => {
  it('stores, reads and clears the user policy', () => {
    expect(store.getRetention(BOB)).toBeNull();
    store.setRetention(BOB, 86400);
    expect(store.getRetention(BOB)).toBe(86400);
    store.setRetention(BOB, null);
    expect(store.getRetention(BOB)).toBeNull();
    expect(AppError.is(caught(() => store.setRetention(BOB, -1)), ErrorCode.BadInput)).toBe(true);
  });
});

describe('purgeExpired', () => {
  it('removes exactly the items received before now − retention, keeping the boundary', () => {
    for (let i = 0; i < 10; i++) store.storeIncoming(BOB, incoming(ALICE, `m${i}`, [1], { receivedAt: T0 + i * 600_000 }));
    store.storeOutgoing(BOB, outgoing(CAROL, 'o1', T0 + 100));
    store.setRetention(BOB, HOUR);
    for (let i = 0; i < 10; i++) store.markDelivered(BOB, 1, ALICE, `m${i}`);
    // now = m9 time; cutoff = now − 1 h = m3 time: m0..m2 and o1 go, m3 (== cutoff) stays
    const r = store.purgeExpired(BOB, T0 + 9 * 600_000, 100);
    expect(r).toEqual({ purged: 4, undelivered: [], done: true });
    expect(ids()).toEqual(['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
  });

  it('reports messages purged while still undelivered so their senders can be told', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'old', [1, 2], { receivedAt: T0 }));
    store.storeIncoming(BOB, incoming(CAROL, 'old-transit', [2], { ak: false, receivedAt: T0 + 1 }));
    store.storeIncoming(BOB, incoming(ALICE, 'new', [1], { receivedAt: T0 + 10 * HOUR * 1000 }));
    store.markDelivered(BOB, 1, ALICE, 'old');
    store.setRetention(BOB, HOUR);
    const r = store.purgeExpired(BOB, T0 + 10 * HOUR * 1000, 100);
    expect(r.purged).toBe(2);
    expect(r.undelivered).toEqual([
      { sender: ALICE, messageId: 'old', deviceIds: [2] },
      { sender: CAROL, messageId: 'old-transit', deviceIds: [2] },
    ]);
    expect(store.pendingFor(BOB, 2, { limit: 10 })).toEqual([]);
    expect(store.pendingCounts(BOB).messages).toBe(1);
  });

  it('works in bounded batches until done', () => {
    for (let i = 0; i < 25; i++) store.storeOutgoing(BOB, outgoing(ALICE, `o${i}`, T0 + i));
    store.setRetention(BOB, 60);
    const now = T0 + 3600_000;
    expect(store.purgeExpired(BOB, now, 10)).toMatchObject({ purged: 10, done: false });
    expect(store.purgeExpired(BOB, now, 10)).toMatchObject({ purged: 10, done: false });
    expect(store.purgeExpired(BOB, now, 10)).toMatchObject({ purged: 5, done: true });
    expect(ids()).toEqual([]);
  });

  it('applies the tighter of the user and operator retention, and keeps all without either', async () => {
    for (let i = 0; i < 5; i++) store.storeOutgoing(BOB, outgoing(ALICE, `o${i}`, T0 + i * HOUR * 1000));
    const now = T0 + 5 * HOUR * 1000;
    expect(store.purgeExpired(BOB, now, 100).purged).toBe(0);
    store.setRetention(BOB, 4 * HOUR);
    store.close();
    const withGlobal = await f.open({ retentionSeconds: 2 * HOUR });
    expect(withGlobal.purgeExpired(BOB, now, 100).purged).toBe(3);
    withGlobal.setRetention(BOB, HOUR);
    expect(withGlobal.purgeExpired(BOB, now, 100).purged).toBe(1);
    expect(withGlobal.query(BOB, { max: 10 }).items.map((i) => i.messageId)).toEqual(['o4']);
  });
});

describe('expireTransit', () => {
  it('returns exactly the copies undelivered past the TTL, with their devices', () => {
    const ttl = 30 * 86400;
    const now = T0 + (ttl + 10) * 1000;
    store.storeIncoming(BOB, incoming(ALICE, 'a', [1, 2], { receivedAt: T0 }));
    store.storeIncoming(BOB, incoming(CAROL, 'b', [1], { ak: false, receivedAt: T0 + 1000 }));
    store.storeIncoming(BOB, incoming(ALICE, 'c', [1], { receivedAt: T0 + 2000 }));
    store.storeIncoming(BOB, incoming(ALICE, 'fresh', [1], { receivedAt: now - 1000 }));
    store.markDelivered(BOB, 1, ALICE, 'a');
    store.markDelivered(BOB, 1, ALICE, 'c');
    const r = store.expireTransit(BOB, now, ttl, 100);
    expect(r.expired).toEqual([
      { sender: ALICE, messageId: 'a', deviceIds: [2] },
      { sender: CAROL, messageId: 'b', deviceIds: [1] },
    ]);
    expect(r.done).toBe(true);
    // The history copies stay; the transit-only message is gone; the fresh one still waits.
    expect(ids()).toEqual(['a', 'c', 'fresh']);
    expect(store.pendingFor(BOB, 1, { limit: 10 }).map((p) => p.messageId)).toEqual(['fresh']);
    expect(store.pendingFor(BOB, 2, { limit: 10 })).toEqual([]);
    expect(store.deliveryState(BOB, CAROL, 'b')).toBeUndefined();
    expect(store.expireTransit(BOB, now, ttl, 100).expired).toEqual([]);
  });

  it('drops dedupe tombstones older than the TTL and reports them separately', () => {
    store.storeIncoming(BOB, incoming(ALICE, 't', [1], { ak: false, receivedAt: T0 }));
    store.markDelivered(BOB, 1, ALICE, 't');
    expect(store.expireTransit(BOB, T0 + 1000, 60, 10)).toEqual({ expired: [], tombstones: 0, done: true });
    expect(store.expireTransit(BOB, T0 + 61_000, 60, 10)).toEqual({ expired: [], tombstones: 1, done: true });
    expect(store.storeIncoming(BOB, incoming(ALICE, 't', [1], { ak: false })).inserted).toBe(true);
  });

  it('expires in bounded batches', () => {
    for (let i = 0; i < 7; i++) store.storeIncoming(BOB, incoming(ALICE, `m${i}`, [1], { ak: false, receivedAt: T0 + i }));
    const now = T0 + 120_000;
    const a = store.expireTransit(BOB, now, 60, 3);
    const b = store.expireTransit(BOB, now, 60, 3);
    const c = store.expireTransit(BOB, now, 60, 3);
    expect([a.done, b.done, c.done]).toEqual([false, false, true]);
    expect([...a.expired, ...b.expired, ...c.expired].map((e) => e.messageId)).toEqual(
      ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'],
    );
    expect(store.pendingCounts(BOB)).toEqual({ messages: 0, bytes: 0 });
  });
});
