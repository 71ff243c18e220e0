// storeIncomingMany (issue 7's bulk seeding and imports): one transaction for many items, each
// checked and deduplicated exactly as by storeIncoming; a bad item leaves nothing stored.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { caught, fixture, incoming, T0, type Fixture } from './helpers.js';

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

describe('storeIncomingMany', () => {
  it('stores a batch in order, deduplicates repeats, and matches storeIncoming', () => {
    const items = Array.from({ length: 50 }, (_, i) => incoming(ALICE, `m${i}`, [], { receivedAt: T0 + i }));
    const first = store.storeIncomingMany(BOB, items);
    expect(first.every((r) => r.inserted)).toBe(true);
    const again = store.storeIncomingMany(BOB, [items[3]!, incoming(ALICE, 'm50', [1])]);
    expect(again.map((r) => r.inserted)).toEqual([false, true]);
    expect(again[0]?.archiveId).toBe(first[3]?.archiveId);
    expect(store.query(BOB, { max: 100 }).items.map((i) => i.messageId)).toEqual(Array.from({ length: 51 }, (_, i) => `m${i}`));
    expect(store.pendingCounts(BOB).messages).toBe(1);
  });

  it('refuses a batch with one bad item, or over the page limit, storing nothing', () => {
    const bad = { ...incoming(ALICE, 'x'), messageId: '' };
    expect(AppError.is(caught(() => store.storeIncomingMany(BOB, [incoming(ALICE, 'ok'), bad])), ErrorCode.BadInput)).toBe(true);
    const many = Array.from({ length: 1001 }, (_, i) => incoming(ALICE, `n${i}`));
    expect(AppError.is(caught(() => store.storeIncomingMany(BOB, many)), ErrorCode.BadInput)).toBe(true);
    expect(store.query(BOB, { max: 10 }).items).toEqual([]);
  });
});
