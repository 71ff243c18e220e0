// The write path: idempotent store (invariant 2), outgoing copies, input checks (invariant 5).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { bytes, caught, fixture, incoming, outgoing, type Fixture } from './helpers.js';

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';

describe('storeIncoming', () => {
  it('stores the same item three times as one row with one archive id', () => {
    const item = incoming(ALICE, 'm1', [101, 102]);
    const results = [store.storeIncoming(BOB, item), store.storeIncoming(BOB, item), store.storeIncoming(BOB, item)];
    expect(results.map((r) => r.inserted)).toEqual([true, false, false]);
    expect(new Set(results.map((r) => r.archiveId)).size).toBe(1);
    expect(results.every((r) => !r.conflict)).toBe(true);
    expect(store.query(BOB, { max: 10, count: true }).count).toBe(1);
    expect(store.pendingFor(BOB, 101, { limit: 10 })).toHaveLength(1);
    expect(store.pendingFor(BOB, 102, { limit: 10 })).toHaveLength(1);
    expect(store.pendingCounts(BOB)).toEqual({ messages: 1, bytes: 1024 + 2 * 200 });
  });

  it('treats the sender JID case-insensitively for idempotence', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    const again = store.storeIncoming('BOB@Example.ORG', incoming('Alice@EXAMPLE.org', 'm1'));
    expect(again.inserted).toBe(false);
  });

  it('keeps the first payload when a repeat differs and reports the conflict', () => {
    const first = incoming(ALICE, 'm1');
    store.storeIncoming(BOB, first);
    const r = store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    expect(r).toMatchObject({ inserted: false, conflict: true });
    const [item] = store.query(BOB, { max: 1 }).items;
    expect(Buffer.from(item?.payload ?? []).equals(Buffer.from(first.payload))).toBe(true);
  });

  it('stores the same message id from two senders as two items', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    expect(store.storeIncoming(BOB, incoming('carol@example.org', 'm1')).inserted).toBe(true);
    expect(store.query(BOB, { max: 10, count: true }).count).toBe(2);
  });

  it('returns the payload and each key block exactly as stored', () => {
    const item = incoming(ALICE, 'm1', [101, 102]);
    store.storeIncoming(BOB, item);
    const [p101] = store.pendingFor(BOB, 101, { limit: 10 });
    const [p102] = store.pendingFor(BOB, 102, { limit: 10 });
    const [h] = store.query(BOB, { max: 10 }).items;
    const eq = (a: Uint8Array | undefined, b: Uint8Array | undefined) => Buffer.from(a ?? []).equals(Buffer.from(b ?? [1]));
    expect(eq(p101?.payload, item.payload)).toBe(true);
    expect(eq(p101?.keyBlock.block, item.deviceBlocks[0]?.block)).toBe(true);
    expect(p101?.keyBlock.prekeyId).toBe(1101);
    expect(eq(p102?.keyBlock.block, item.deviceBlocks[1]?.block)).toBe(true);
    expect(eq(h?.archiveBlock.block, item.archiveBlock?.block)).toBe(true);
    expect(h).toMatchObject({ direction: 'in', with: ALICE, messageId: 'm1', senderDevice: 7, suite: 'sp1' });
  });

  it('keeps a transit-only item (no archive key) out of history', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1', [101], { ak: false }));
    expect(store.query(BOB, { max: 10, count: true })).toMatchObject({ items: [], count: 0 });
    expect(store.pendingFor(BOB, 101, { limit: 10 })).toHaveLength(1);
  });
});

describe('storeOutgoing', () => {
  it('puts the own-AK copy into the sender archive as direction out, idempotently', () => {
    const item = outgoing(BOB, 'm1');
    expect(store.storeOutgoing(ALICE, item).inserted).toBe(true);
    expect(store.storeOutgoing(ALICE, item).inserted).toBe(false);
    const page = store.query(ALICE, { max: 10, count: true });
    expect(page.count).toBe(1);
    expect(page.items[0]).toMatchObject({ direction: 'out', with: BOB, messageId: 'm1' });
    expect(store.pendingCounts(ALICE)).toEqual({ messages: 0, bytes: 0 });
    expect(store.hasUser(BOB)).toBe(false);
  });

  it('keeps a note to self as one incoming and one outgoing item', () => {
    store.storeIncoming(ALICE, incoming(ALICE, 'n1'));
    expect(store.storeOutgoing(ALICE, outgoing(ALICE, 'n1')).inserted).toBe(true);
    expect(store.query(ALICE, { max: 10 }).items.map((i) => i.direction)).toEqual(['in', 'out']);
  });
});

describe('input checks', () => {
  const cases: [string, () => unknown][] = [
    ['a full JID as owner', () => store.storeIncoming('bob@example.org/phone', incoming(ALICE, 'm'))],
    ['a full JID as sender', () => store.storeIncoming(BOB, incoming('alice@example.org/x', 'm'))],
    ['an empty message id', () => store.storeIncoming(BOB, incoming(ALICE, ''))],
    ['a message id with a control character', () => store.storeIncoming(BOB, incoming(ALICE, 'a\nb'))],
    ['an oversize payload', () => store.storeIncoming(BOB, incoming(ALICE, 'm', [1], { payloadBytes: 192 * 1024 + 1 }))],
    ['an empty payload', () => store.storeIncoming(BOB, { ...incoming(ALICE, 'm'), payload: new Uint8Array(0) })],
    ['33 devices', () => store.storeIncoming(BOB, incoming(ALICE, 'm', Array.from({ length: 33 }, (_, i) => i + 1)))],
    ['a device twice', () => store.storeIncoming(BOB, incoming(ALICE, 'm', [5, 5]))],
    ['device id 0', () => store.storeIncoming(BOB, incoming(ALICE, 'm', [0]))],
    ['no block at all', () => store.storeIncoming(BOB, incoming(ALICE, 'm', [], { ak: false }))],
    ['a malformed suite', () => store.storeIncoming(BOB, { ...incoming(ALICE, 'm'), suite: 'SP 1' })],
    ['a payload that is a string', () => store.storeIncoming(BOB, { ...incoming(ALICE, 'm'), payload: 'x' as unknown as Uint8Array })],
    ['an oversize key block', () => store.storeIncoming(BOB, incoming(ALICE, 'm', [1], { blockBytes: 8193 }))],
    ['an outgoing copy without archive block', () => store.storeOutgoing(ALICE, { ...outgoing(BOB, 'm'), archiveBlock: undefined as never })],
  ];
  it.each(cases)('refuses %s with BadInput and stores nothing', (_name, run) => {
    expect(AppError.is(caught(run), ErrorCode.BadInput)).toBe(true);
    expect(store.hasUser(BOB)).toBe(false);
    expect(store.hasUser(ALICE)).toBe(false);
  });

  it('leaves stored rows untouched when a later item is refused', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'ok'));
    caught(() => store.storeIncoming(BOB, { ...incoming(ALICE, 'bad'), payload: bytes(0) }));
    expect(store.query(BOB, { max: 10, count: true }).count).toBe(1);
  });
});
