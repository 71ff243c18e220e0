// The retention sweep without BullMQ (issue 7): with an injected clock over real archive files it
// purges exactly the items past each user's or the operator's retention, expires exactly the
// transit copies past the TTL and names each to its sender, works in bounded batches with
// progress, erases expired directory devices, checkpoints and vacuums what it changed; shred
// erases the wrapped key and the files.
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { runRetention, shred, type ExpiredMessageNotice, type RetentionJobResult } from '../../../src/workers/index.js';
import { fixture, incoming, outgoing, T0, type Fixture } from '../archive/helpers.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const CAROL = 'carol@example.org';
const DAY = 86_400_000;

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

function ids(jid: string): string[] {
  return store.query(jid, { max: 1000 }).items.map((i) => i.messageId);
}

function sweep(now: number, extra: Partial<Parameters<typeof runRetention>[0]> = {}) {
  const notices: ExpiredMessageNotice[] = [];
  const progress: RetentionJobResult[] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const run = runRetention({
    archive: store,
    notify: (n) => {
      notices.push(n);
      return Promise.resolve();
    },
    transitTtlSeconds: 30 * 86400,
    now: () => now,
    logger: silentLogger(),
    metrics,
    progress: (p) => {
      progress.push(p);
      return Promise.resolve();
    },
    ...extra,
  });
  return { run, notices, progress, metrics };
}

describe('retention sweep', () => {
  it('removes exactly the rows past retention and TTL, and tells each sender of its expired message', async () => {
    // Bob keeps 25 days; Carol set nothing (no purge), but her transit copies still expire after 30 days.
    for (let d = 0; d < 20; d++) {
      store.storeIncoming(BOB, incoming(ALICE, `b${d}`, [1], { receivedAt: T0 + d * DAY }));
      store.markDelivered(BOB, 1, ALICE, `b${d}`);
    }
    store.storeIncoming(BOB, incoming(CAROL, 'b-undelivered', [1, 2], { receivedAt: T0 + 2 * DAY + 1 }));
    store.markDelivered(BOB, 1, CAROL, 'b-undelivered');
    store.storeOutgoing(BOB, outgoing(ALICE, 'b-sent-old', T0 + 3 * DAY));
    store.storeIncoming(CAROL, incoming(ALICE, 'c-transit', [5], { ak: false, receivedAt: T0 }));
    store.storeIncoming(CAROL, incoming(ALICE, 'c-history', [5], { receivedAt: T0 + 1 }));
    store.storeIncoming(CAROL, incoming(BOB, 'c-fresh', [5], { receivedAt: T0 + 19 * DAY }));

    const now = T0 + 40 * DAY; // Carol's TTL cutoff: day 10
    store.setRetention(BOB, 25 * 86400); // Bob's cutoff: day 15: b0..b14 and the two old extras go, b15..b19 stay
    const { run, notices, metrics } = sweep(now);
    const r = await run;
    expect(ids(BOB)).toEqual(['b15', 'b16', 'b17', 'b18', 'b19']);
    // Carol: the transit-only copy expired entirely; the one with a history copy keeps its history.
    expect(ids(CAROL)).toEqual(['c-history', 'c-fresh']);
    expect(store.pendingFor(CAROL, 5, { limit: 10 }).map((p) => p.messageId)).toEqual(['c-fresh']);
    expect(notices).toEqual([
      { sender: CAROL, recipient: BOB, messageId: 'b-undelivered', reason: 'retention', devices: [2] },
      { sender: ALICE, recipient: CAROL, messageId: 'c-transit', reason: 'transit-ttl', devices: [5] },
      { sender: ALICE, recipient: CAROL, messageId: 'c-history', reason: 'transit-ttl', devices: [5] },
    ].sort((a, b) => (store.userHash(a.recipient) < store.userHash(b.recipient) ? -1 : 1)));
    expect(r).toMatchObject({ users: 2, purged: 17, expired: 2, notices: 3, noticeFailures: 0 });
    const counted = await metrics.retention.get();
    expect(counted.values.find((v) => v.labels.action === 'purged')?.value).toBe(17);
    expect(counted.values.find((v) => v.labels.action === 'expired')?.value).toBe(2);

    // A second sweep at the same time finds nothing more to do.
    expect(await sweep(now).run).toMatchObject({ purged: 0, expired: 0, notices: 0 });
  });

  it('applies the operator retention when the user set none, in bounded batches with progress per page of users', async () => {
    const global = await f.open({ retentionSeconds: 86400 });
    store.close();
    store = global;
    for (let i = 0; i < 25; i++) store.storeOutgoing(`u${i}@example.org`, outgoing(ALICE, `o${i}`, T0));
    for (let i = 0; i < 30; i++) store.storeOutgoing(BOB, outgoing(ALICE, `x${i}`, T0 + i));
    const { run, progress } = sweep(T0 + 2 * DAY, { batch: 7, usersPerPage: 10 });
    const r = await run;
    expect(r).toMatchObject({ users: 26, purged: 55 });
    expect(progress.map((p) => p.users)).toEqual([10, 20, 26, 26]);
    expect(ids(BOB)).toEqual([]);
  });

  it('counts a notice that cannot be sent and carries on', async () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1', [1], { ak: false, receivedAt: T0 }));
    store.storeIncoming(BOB, incoming(CAROL, 'm2', [1], { ak: false, receivedAt: T0 }));
    let calls = 0;
    const { run } = sweep(T0 + 31 * DAY, {
      notify: () => (++calls === 1 ? Promise.reject(new Error('offline')) : Promise.resolve()),
    });
    expect(await run).toMatchObject({ expired: 2, notices: 1, noticeFailures: 1 });
    expect(store.pendingCounts(BOB).messages).toBe(0);
  });

  it('vacuums a file that purging left mostly free, and erases expired directory devices in batches', async () => {
    store.setRetention(BOB, 86400);
    for (let i = 0; i < 300; i++) store.storeOutgoing(BOB, outgoing(ALICE, `o${i}`, T0));
    const before = store.spaceStats(BOB);
    const erased: number[] = [];
    const directory = {
      eraseExpired: (cutoff: number, limit: number) => {
        expect(cutoff).toBe(T0 + 3 * DAY - 7 * DAY);
        const n = Math.min(limit, 12 - erased.length);
        for (let i = 0; i < n; i++) erased.push(i);
        return Array.from({ length: n }, (_, i) => ({ jid: BOB, device: i + 1 }));
      },
    };
    const r = await sweep(T0 + 3 * DAY, { directory, batch: 5 }).run;
    expect(r).toMatchObject({ purged: 300, vacuumed: 1, checkpointed: 1, prekeysErased: 12 });
    expect(store.spaceStats(BOB).pages).toBeLessThan(before.pages / 4);
  });

  it('stops between users when asked, and the next sweep finishes the work', async () => {
    for (let i = 0; i < 5; i++) store.storeOutgoing(`u${i}@example.org`, outgoing(ALICE, 'o', T0));
    for (let i = 0; i < 5; i++) store.setRetention(`u${i}@example.org`, 60);
    let users = 0;
    const first = await sweep(T0 + DAY, { stopping: () => users++ >= 2 }).run;
    expect(first.users).toBe(2);
    expect((await sweep(T0 + DAY).run).purged).toBe(3);
  });
});

describe('shred', () => {
  it('erases the wrapped key, then the files, and the user\'s devices at the directory', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm', [1]));
    const path = store.userPath(BOB);
    expect(existsSync(path)).toBe(true);
    const removed: number[] = [];
    const report = shred(
      { archive: store, directory: { devices: () => [3, 4], remove: (_j, d) => removed.push(d) > 0 }, logger: silentLogger() },
      BOB,
    );
    expect(report).toMatchObject({ keyErased: true, devicesRemoved: 2 });
    expect(report.filesRemoved).toBeGreaterThanOrEqual(1);
    expect(existsSync(path)).toBe(false);
    expect(store.hasUser(BOB)).toBe(false);
    expect(removed).toEqual([3, 4]);
  });
});
