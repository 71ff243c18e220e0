// History (issue 7, XEP-0313 + XEP-0059): paging forwards and backwards returns each item once, in
// order; with/start/end/ids/after-id/before-id filters are exact; count and index are right.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { COUNT_CAP, MAX_INDEX, type ArchiveStore, type HistoryQuery } from '../../../src/archive/index.js';
import { caught, fixture, incoming, outgoing, T0, type Fixture } from './helpers.js';

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';
const CAROL = 'carol@example.org';
const N = 250;

let f: Fixture;
let store: ArchiveStore;
/** Archive ids in archive order, and each item's peer and time. */
let all: { id: string; with: string; at: number; dir: 'in' | 'out' }[];
/** Archive ids of transit-only items (no history copy). */
let transitIds: string[];

beforeEach(async () => {
  f = fixture();
  store = await f.open();
  all = [];
  transitIds = [];
  for (let i = 0; i < N; i++) {
    const at = T0 + i * 1000;
    if (i % 5 === 4) {
      all.push({ id: store.storeOutgoing(BOB, outgoing(ALICE, `o${i}`, at)).archiveId, with: ALICE, at, dir: 'out' });
    } else {
      const peer = i % 2 === 0 ? ALICE : CAROL;
      all.push({ id: store.storeIncoming(BOB, incoming(peer, `m${i}`, [1], { receivedAt: at })).archiveId, with: peer, at, dir: 'in' });
    }
    if (i % 50 === 0)
      transitIds.push(store.storeIncoming(BOB, incoming(CAROL, `transit${i}`, [1], { ak: false, receivedAt: at })).archiveId);
  }
});
afterEach(() => f.cleanup());

function pageForwards(q: Omit<HistoryQuery, 'max' | 'after'>, max: number): string[] {
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = store.query(BOB, { ...q, max, after });
    out.push(...page.items.map((i) => i.archiveId));
    if (page.complete) return out;
    expect(page.items).toHaveLength(max);
    after = page.last;
  }
}

function pageBackwards(q: Omit<HistoryQuery, 'max' | 'before'>, max: number): string[] {
  const pages: string[][] = [];
  let before = '';
  for (;;) {
    const page = store.query(BOB, { ...q, max, before });
    pages.unshift(page.items.map((i) => i.archiveId));
    if (page.complete) return pages.flat();
    before = page.first ?? '';
  }
}

describe('query paging', () => {
  it('gives unique, unguessable 22-character base64url archive ids', () => {
    expect(new Set(all.map((a) => a.id)).size).toBe(N);
    expect(all.every((a) => /^[A-Za-z0-9_-]{22}$/.test(a.id))).toBe(true);
  });

  it('pages forwards with max=20 through every history item exactly once, in order', () => {
    expect(pageForwards({}, 20)).toEqual(all.map((a) => a.id));
  });

  it('pages backwards from the last page through every item exactly once, in order', () => {
    expect(pageBackwards({}, 20)).toEqual(all.map((a) => a.id));
  });

  it('returns the first page incomplete and the last page complete', () => {
    expect(store.query(BOB, { max: 20 }).complete).toBe(false);
    const last = store.query(BOB, { max: 20, before: '' });
    expect(last.complete).toBe(false);
    expect(last.last).toBe(all.at(-1)?.id);
    expect(store.query(BOB, { max: 20, after: all.at(-21)?.id }).complete).toBe(true);
  });

  it('counts every match and gives the first item index', () => {
    const page = store.query(BOB, { max: 10, after: all[99]?.id, count: true });
    expect(page).toMatchObject({ count: N, firstIndex: 100, first: all[100]?.id });
    expect(store.query(BOB, { max: 0, count: true })).toMatchObject({ items: [], count: N });
  });

  it('skips exactly index matches with an RSM index, and refuses index with a cursor', () => {
    const page = store.query(BOB, { max: 10, index: 100, count: true });
    expect(page.items.map((i) => i.archiveId)).toEqual(all.slice(100, 110).map((a) => a.id));
    expect(page).toMatchObject({ firstIndex: 100, count: N, complete: false });
    expect(store.query(BOB, { max: 10, index: N - 5 }).items).toHaveLength(5);
    expect(store.query(BOB, { max: 10, index: N })).toMatchObject({ items: [], complete: true });
    expect(AppError.is(caught(() => store.query(BOB, { max: 10, index: 1, after: all[0]?.id })), ErrorCode.BadInput)).toBe(true);
  });

  it('refuses an unknown or transit-only cursor with NotFound', () => {
    const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect(AppError.is(caught(() => store.query(BOB, { max: 5, after: unknown })), ErrorCode.NotFound)).toBe(true);
    expect(AppError.is(caught(() => store.query(BOB, { max: 5, beforeId: unknown })), ErrorCode.NotFound)).toBe(true);
    expect(transitIds).toHaveLength(5);
    expect(AppError.is(caught(() => store.query(BOB, { max: 5, after: transitIds[0] })), ErrorCode.NotFound)).toBe(true);
    expect(store.query(BOB, { max: 5, ids: transitIds }).items).toEqual([]);
  });

  it('refuses a malformed id, a full JID in with, and a page over the limit with BadInput', () => {
    for (const q of [{ max: 5, after: 'not an id' }, { max: 5, with: 'a@b/c' }, { max: 1001 }, { max: 5, ids: ['x'] }])
      expect(AppError.is(caught(() => store.query(BOB, q)), ErrorCode.BadInput)).toBe(true);
  });

  it('answers a user without an archive with an empty complete page', () => {
    expect(store.query('nobody@example.org', { max: 5, count: true })).toEqual({ items: [], complete: true, count: 0 });
  });
});

describe('query filters', () => {
  it('with returns exactly the items exchanged with that peer, both directions', () => {
    const expected = all.filter((a) => a.with === ALICE).map((a) => a.id);
    expect(pageForwards({ with: ALICE }, 17)).toEqual(expected);
    expect(pageBackwards({ with: 'Alice@Example.org' }, 17)).toEqual(expected);
    expect(store.query(BOB, { with: ALICE, max: 0, count: true }).count).toBe(expected.length);
    const dirs = new Set(store.query(BOB, { with: ALICE, max: 1000 }).items.map((i) => i.direction));
    expect(dirs).toEqual(new Set(['in', 'out']));
  });

  it('start and end are inclusive bounds on the received time', () => {
    const start = T0 + 40_000;
    const end = T0 + 120_000;
    const expected = all.filter((a) => a.at >= start && a.at <= end).map((a) => a.id);
    expect(expected).toHaveLength(81);
    expect(pageForwards({ start, end }, 25)).toEqual(expected);
    expect(store.query(BOB, { start, end, with: CAROL, max: 1000 }).items.map((i) => i.archiveId)).toEqual(
      all.filter((a) => a.at >= start && a.at <= end && a.with === CAROL).map((a) => a.id),
    );
  });

  it('ids returns exactly the listed items that exist, in archive order', () => {
    const pick = [all[200], all[3], all[77]].map((a) => a?.id ?? '');
    const page = store.query(BOB, { ids: [...pick, 'AAAAAAAAAAAAAAAAAAAAAA'], max: 10 });
    expect(page.items.map((i) => i.archiveId)).toEqual([all[3]?.id, all[77]?.id, all[200]?.id]);
  });

  it('afterId and beforeId are exclusive bounds that also limit the count', () => {
    const page = store.query(BOB, { afterId: all[10]?.id, beforeId: all[20]?.id, max: 100, count: true });
    expect(page.items.map((i) => i.archiveId)).toEqual(all.slice(11, 20).map((a) => a.id));
    expect(page.count).toBe(9);
    expect(page.complete).toBe(true);
  });

  it('returns timestamps, peers and directions as stored', () => {
    const [first] = store.query(BOB, { max: 1 }).items;
    expect(first).toMatchObject({ archiveId: all[0]?.id, timestamp: T0, with: ALICE, direction: 'in', messageId: 'm0' });
  });
});

describe('bounded work per query (issue 14, attack 5)', () => {
  const DAVE = 'dave@example.org';
  /** Items of `sizes` sealed bytes each (payload plus a 200-byte archive block) in Dave's archive. */
  const seedSizes = (sizes: number[]): string[] =>
    store
      .storeIncomingMany(DAVE, sizes.map((n, i) => incoming(ALICE, `s${i}`, [1], { payloadBytes: n - 200, receivedAt: T0 + i })))
      .map((r) => r.archiveId);

  it('reads forwards only the oldest items that fit the byte budget; the page is then not complete and the next one continues', () => {
    const ids = seedSizes([1000, 1500, 1000, 1000]);
    const cut = store.query(DAVE, { max: 10, maxBytes: 3000, count: true });
    expect(cut).toMatchObject({ first: ids[0], last: ids[1], complete: false, count: 4, firstIndex: 0 });
    expect(cut.items).toHaveLength(2);
    expect(store.query(DAVE, { max: 10, maxBytes: 3000, after: ids[1] }).items.map((i) => i.archiveId)).toEqual(ids.slice(2));
  });

  it('reads backwards only the newest items that fit, with the index of the first kept', () => {
    const ids = seedSizes([1000, 1500, 1000, 1000]);
    const cut = store.query(DAVE, { max: 10, maxBytes: 3000, before: '', count: true });
    expect(cut).toMatchObject({ first: ids[2], last: ids[3], complete: false, firstIndex: 2 });
  });

  it('always reads at least one item, however large', () => {
    const ids = seedSizes([5000, 300]);
    expect(store.query(DAVE, { max: 10, maxBytes: 1000 }).items.map((i) => i.archiveId)).toEqual([ids[0]]);
    expect(store.query(DAVE, { max: 10, maxBytes: 100, before: '' }).items.map((i) => i.archiveId)).toEqual([ids[1]]);
  });

  it('pages with a byte budget through every item exactly once', () => {
    const out: string[] = [];
    let after: string | undefined;
    for (let page = store.query(BOB, { max: 50, maxBytes: 5000 }); ; page = store.query(BOB, { max: 50, maxBytes: 5000, after })) {
      expect(page.items.reduce((n, i) => n + i.payload.length + i.archiveBlock.block.length, 0)).toBeLessThanOrEqual(5000);
      out.push(...page.items.map((i) => i.archiveId));
      if (page.complete) break;
      after = page.last;
    }
    expect(out).toEqual(all.map((a) => a.id));
  });

  it(`counts up to ${COUNT_CAP} matches and leaves count and a deeper index out past it; refuses an index past ${MAX_INDEX}`, () => {
    for (let b = 0; b <= COUNT_CAP; b += 1000)
      store.storeIncomingMany(DAVE, Array.from({ length: 1000 }, (_, i) => incoming(ALICE, `c${b + i}`, [], { payloadBytes: 8, blockBytes: 8 })));
    const first = store.query(DAVE, { max: 5, count: true });
    expect(first.count).toBeUndefined();
    expect(first.firstIndex).toBe(0);
    expect(store.query(DAVE, { max: 5, before: '', count: true }).firstIndex).toBeUndefined();
    expect(store.query(DAVE, { max: 5, index: MAX_INDEX, count: true }).firstIndex).toBe(MAX_INDEX);
    expect(store.query(DAVE, { max: 0, count: true })).toMatchObject({ items: [], complete: false, count: undefined });
    expect(AppError.is(caught(() => store.query(DAVE, { max: 5, index: MAX_INDEX + 1 })), ErrorCode.BadInput)).toBe(true);
    expect(store.query(BOB, { max: 0, count: true }).count).toBe(N);
  });
});

describe('deleteItems', () => {
  it('deletes exactly the listed ids', () => {
    const gone = [all[1], all[2], all[100]].map((a) => a?.id ?? '');
    expect(store.deleteItems(BOB, { ids: gone })).toBe(3);
    expect(pageForwards({}, 50)).toEqual(all.map((a) => a.id).filter((id) => !gone.includes(id)));
  });

  it('deletes exactly a range with a peer, and the pending copies of those items', () => {
    const start = T0 + 10_000;
    const end = T0 + 19_000;
    const expectedLeft = all.filter((a) => !(a.at >= start && a.at <= end && a.with === CAROL)).map((a) => a.id);
    const pendingBefore = store.pendingFor(BOB, 1, { limit: 1000 }).length;
    expect(store.deleteItems(BOB, { start, end, with: CAROL })).toBe(all.length - expectedLeft.length);
    expect(pageForwards({}, 50)).toEqual(expectedLeft);
    expect(store.pendingFor(BOB, 1, { limit: 1000 })).toHaveLength(pendingBefore - (all.length - expectedLeft.length));
  });

  it('needs all: true, and nothing else, to delete everything', () => {
    expect(AppError.is(caught(() => store.deleteItems(BOB, {})), ErrorCode.BadInput)).toBe(true);
    expect(AppError.is(caught(() => store.deleteItems(BOB, { all: true, with: ALICE })), ErrorCode.BadInput)).toBe(true);
    expect(store.deleteItems(BOB, { all: true })).toBe(N);
    expect(store.query(BOB, { max: 10, count: true }).count).toBe(0);
    // transit-only copies are not history items and stay pending
    expect(store.pendingFor(BOB, 1, { limit: 1000 }).map((p) => p.messageId)).toEqual(['transit0', 'transit50', 'transit100', 'transit150', 'transit200']);
  });
});
