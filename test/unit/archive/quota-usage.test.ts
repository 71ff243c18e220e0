// The quota counters of schema v2 (issue 14): per sender and in total, pending and kept history
// copies stay equal to a recount from the rows after stores, repeats, receipts, expiry with and
// without a history copy, purges and deletes (the triggers, not the callers, keep them).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore, Usage } from '../../../src/archive/index.js';
import { USER_MIGRATIONS } from '../../../src/archive/schema.js';
import * as transit from '../../../src/archive/transit.js';
import { quotaUsage } from '../../../src/archive/usage.js';
import { UserDb } from '../../../src/archive/user-db.js';
import { migrate, openEncryptedDb } from '../../../src/sqlite/index.js';
import { fixture, incoming, outgoing, T0, type Fixture } from './helpers.js';

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';
const CAROL = 'carol@example.org';

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

type Row = Record<string, unknown>;
const len = (v: unknown): number => (v instanceof Uint8Array ? v.length : 0);

/** The usage recounted from the archive's rows, per sender and in total. */
function recount(jid: string): { total: Usage; senders: Map<string, Usage> } {
  const tables = new Map(store.auditRows(jid).map((t) => [t.table, t.rows]));
  const deliveries = (tables.get('delivery') ?? []) as Row[];
  const senders = new Map<string, Usage>();
  const total: Usage = { pendingMessages: 0, pendingBytes: 0, keptMessages: 0, keptBytes: 0 };
  for (const m of (tables.get('message') ?? []) as Row[]) {
    if (m.direction !== 'in') continue;
    const open = deliveries.filter((d) => d.seq === m.seq && d.delivered_at === null);
    const u = senders.get(m.peer as string) ?? { pendingMessages: 0, pendingBytes: 0, keptMessages: 0, keptBytes: 0 };
    const add = (k: keyof Usage, n: number): void => {
      u[k] += n;
      total[k] += n;
    };
    if (open.length > 0) {
      add('pendingMessages', 1);
      add('pendingBytes', (m.payload_bytes as number) + open.reduce((n, d) => n + (d.block_bytes as number), 0));
    }
    if (m.ak_block !== null) {
      add('keptMessages', 1);
      add('keptBytes', (m.payload_bytes as number) + len(m.ak_block));
    }
    if (Object.values(u).some((n) => n !== 0)) senders.set(m.peer as string, u);
  }
  return { total, senders };
}

function expectExact(jid = BOB): void {
  const want = recount(jid);
  const got = store.quotaUsage(jid, 'all');
  expect(got.total).toEqual(want.total);
  expect(Object.fromEntries(got.senders)).toEqual(Object.fromEntries(want.senders));
}

describe('quota usage counters (schema v2)', () => {
  it('count pending and kept copies per sender through stores, repeats and receipts', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'a1', [1, 2]));
    store.storeIncoming(BOB, incoming(ALICE, 'a1', [1, 2])); // a repeat changes nothing
    store.storeIncoming(BOB, incoming(ALICE, 'a2', [1], { ak: false, payloadBytes: 300 }));
    store.storeIncomingMany(BOB, [incoming(CAROL, 'c1', [1, 2]), incoming(CAROL, 'c2', [2], { ak: false })]);
    store.storeOutgoing(BOB, outgoing(CAROL, 'o1')); // the owner's own copy: not in the recipient's quota
    expectExact();
    const alice = store.quotaUsage(BOB, [ALICE]).senders.get(ALICE);
    expect(alice).toEqual({ pendingMessages: 2, pendingBytes: 1024 + 400 + 300 + 200, keptMessages: 1, keptBytes: 1024 + 200 });
    store.markDelivered(BOB, 1, ALICE, 'a1');
    expectExact();
    store.markDelivered(BOB, 2, ALICE, 'a1');
    store.markDelivered(BOB, 1, ALICE, 'a2');
    expectExact();
    // Everything of Alice delivered: her history copy alone remains.
    expect(store.quotaUsage(BOB, [ALICE]).senders.get(ALICE)).toEqual({ pendingMessages: 0, pendingBytes: 0, keptMessages: 1, keptBytes: 1224 });
    store.markDeliveredMany(BOB, 2, [{ sender: CAROL, messageId: 'c1' }, { sender: CAROL, messageId: 'c2' }]);
    expectExact();
  });

  it('stay exact through transit expiry, purges and history deletes, and drop a sender at zero', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'a1', [1, 2], { receivedAt: T0 }));
    store.storeIncoming(BOB, incoming(ALICE, 'a2', [1], { ak: false, receivedAt: T0 }));
    store.storeIncoming(BOB, incoming(CAROL, 'c1', [1], { receivedAt: T0 + 10_000 }));
    store.markDelivered(BOB, 2, ALICE, 'a1');
    f.clock.t = T0 + 5000;
    store.expireTransit(BOB, T0 + 5000, 1); // a1 keeps its history copy, a2 goes
    expectExact();
    expect(store.quotaUsage(BOB, [ALICE]).senders.get(ALICE)?.pendingMessages).toBe(0);
    store.deleteItems(BOB, { with: ALICE });
    expectExact();
    expect(store.quotaUsage(BOB, 'all').senders.has(ALICE)).toBe(false);
    store.setRetention(BOB, 1);
    store.purgeExpired(BOB, T0 + 20_000);
    expectExact();
    expect(store.quotaUsage(BOB, 'all')).toEqual({ total: { pendingMessages: 0, pendingBytes: 0, keptMessages: 0, keptBytes: 0 }, senders: new Map() });
  });
});

describe('schema v2 on an archive written by v1', () => {
  it('fills the counters from the rows already there, then keeps them exact', () => {
    const db = openEncryptedDb({ path: `${f.dir}/v1.db`, key: new Uint8Array(32).fill(7), cipher: 'chacha20' });
    try {
      migrate(db, USER_MIGRATIONS.slice(0, 1));
      const u = new UserDb(db, 'h', BOB);
      transit.storeIncoming(u, incoming(ALICE, 'a1', [1, 2]), T0);
      transit.storeIncoming(u, incoming(ALICE, 'a2', [1], { ak: false }), T0);
      transit.storeIncoming(u, incoming(CAROL, 'c1', [1]), T0);
      transit.markDelivered(u, 1, ALICE, 'a1', T0);
      transit.markDelivered(u, 1, CAROL, 'c1', T0);
      migrate(db, USER_MIGRATIONS);
      const payload = 1024;
      const block = 200;
      expect(Object.fromEntries(quotaUsage(u, 'all').senders)).toEqual({
        [ALICE]: { pendingMessages: 2, pendingBytes: payload + block + payload + block, keptMessages: 1, keptBytes: payload + block },
        [CAROL]: { pendingMessages: 0, pendingBytes: 0, keptMessages: 1, keptBytes: payload + block },
      });
      expect(quotaUsage(u, []).total).toEqual({ pendingMessages: 2, pendingBytes: 2 * (payload + block), keptMessages: 2, keptBytes: 2 * (payload + block) });
      transit.markDelivered(u, 2, ALICE, 'a1', T0);
      transit.markDelivered(u, 1, ALICE, 'a2', T0);
      expect(quotaUsage(u, [ALICE]).senders.get(ALICE)).toEqual({ pendingMessages: 0, pendingBytes: 0, keptMessages: 1, keptBytes: payload + block });
    } finally {
      db.close();
    }
  });
});
