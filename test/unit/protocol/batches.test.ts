// Batch stanza forms (issue 9): several copies in one delivery stanza, each with its own id and
// stamp and acknowledged on its own; several receipts in one stanza; one submission receipt naming
// several stored items; the delivery-batch capability of an announcement. A batch of one keeps
// the single forms, and every parse is bounded.
import { describe, expect, it } from 'vitest';
import { envelopeFromWire, initSodium } from '../../../src/keys/index.js';
import {
  batchCapability,
  deliveriesFromStanza,
  deliveryBatchStanza,
  deliveryReceipts,
  MAX_BATCH_ITEMS,
  parseDeliveryReceipts,
  storedIds,
  storedReceiptsStanza,
  withBatchCapability,
} from '../../../src/protocol/batches.js';
import { announcementToXml, deliveryStanzaId, parseDeliveryReceipt, parseDeliveryStanzaId, type DeliveryItem } from '../../../src/protocol/delivery.js';
import { NS } from '../../../src/protocol/namespaces.js';
import { envelopeFromXml } from '../../../src/protocol/xml-codec.js';
import { xml } from '../../../src/xmpp/index.js';

await initSodium();

const copy = (i: number): DeliveryItem => ({
  recipient: 'bob@example.org',
  sender: 'alice@example.org',
  senderDevice: 7,
  messageId: `msg-${i}`,
  suite: 'sp1',
  receivedAt: Date.UTC(2025, 0, 2, 3, 4, i),
  payload: new Uint8Array(64).fill(i),
  device: 101,
  prekeyId: 5,
  keyBlock: new Uint8Array(300).fill(2),
});

describe('delivery batches', () => {
  it('carry each copy with its own id, stamp and key block, in order, with one receipt request', () => {
    const st = deliveryBatchStanza('bob@example.org/phone', 'vault@example.org', [copy(1), copy(2), copy(3)]);
    expect(st.attrs).toMatchObject({ to: 'bob@example.org/phone', type: 'headline' });
    expect(st.getChild('sealed', NS.sealed)).toBeUndefined();
    expect(st.getChildren('request', NS.receipts)).toHaveLength(1);
    const copies = deliveriesFromStanza(st) ?? [];
    expect(copies.map((c) => parseDeliveryStanzaId(c.id))).toEqual([1, 2, 3].map((i) => ({ sender: 'alice@example.org', messageId: `msg-${i}` })));
    expect(copies.map((c) => c.storedAt)).toEqual([1, 2, 3].map((i) => copy(i).receivedAt));
    for (const [i, c] of copies.entries()) {
      const env = envelopeFromWire(envelopeFromXml(c.sealed, 4));
      expect(env.messageId).toBe(`msg-${i + 1}`);
      expect(env.blocks.map((b) => b.target)).toEqual([{ kind: 'device', device: 101 }]);
    }
  });

  it('of one copy is the single delivery form', () => {
    const st = deliveryBatchStanza('bob@example.org/phone', 'vault@example.org', [copy(1)]);
    expect(st.getChild('sealed', NS.sealed)?.attrs.id).toBe('msg-1');
    expect(deliveriesFromStanza(st)).toHaveLength(1);
  });

  it('are read up to a bound, skip items without a sealed element, and are not errors', () => {
    const st = deliveryBatchStanza('bob@example.org/phone', 'vault@example.org', [copy(1), copy(2)]);
    st.append(xml('item', { xmlns: NS.sealed, id: 'x' }, xml('nothing')));
    expect(deliveriesFromStanza(st)).toHaveLength(2);
    const many = xml('message', { type: 'headline' });
    for (let i = 0; i < MAX_BATCH_ITEMS + 10; i++) many.append(xml('item', { xmlns: NS.sealed, id: `i${i}` }, xml('sealed', { xmlns: NS.sealed })));
    expect(deliveriesFromStanza(many)).toHaveLength(MAX_BATCH_ITEMS);
    st.attrs.type = 'error';
    expect(deliveriesFromStanza(st)).toBeUndefined();
    expect(deliveriesFromStanza(xml('message', {}, xml('body', {}, 'hi')))).toBeUndefined();
  });
});

describe('receipts for several copies', () => {
  const ids = [1, 2, 3].map((i) => deliveryStanzaId('alice@example.org', `msg-${i}`));

  it('name each copy; the vault reads them all from a full JID', () => {
    const st = deliveryReceipts('vault@example.org/v', ids);
    expect(st.getChildren('received', NS.receipts)).toHaveLength(3);
    expect(st.getChild('no-permanent-store', NS.hints)).toBeDefined();
    st.attrs.from = 'Bob@Example.org/phone';
    expect(parseDeliveryReceipts(st).map((r) => [r.from.bare, r.from.resource, r.messageId])).toEqual([
      ['bob@example.org', 'phone', 'msg-1'],
      ['bob@example.org', 'phone', 'msg-2'],
      ['bob@example.org', 'phone', 'msg-3'],
    ]);
  });

  it('of one copy is the single receipt form; bare JIDs, errors and foreign ids count for nothing', () => {
    const one = deliveryReceipts('vault@example.org/v', [ids[0] as string]);
    one.attrs.from = 'bob@example.org/phone';
    expect(parseDeliveryReceipt(one)?.messageId).toBe('msg-1');
    const st = deliveryReceipts('vault@example.org/v', [...ids, 'not-a-delivery-id']);
    st.attrs.from = 'bob@example.org';
    expect(parseDeliveryReceipts(st)).toEqual([]);
    st.attrs.from = 'bob@example.org/phone';
    expect(parseDeliveryReceipts(st)).toHaveLength(3);
    st.attrs.type = 'error';
    expect(parseDeliveryReceipts(st)).toEqual([]);
  });
});

describe('submission receipts for a batch', () => {
  it('echo the submission id and name every stored item; one item keeps the single form', () => {
    const st = storedReceiptsStanza('alice@example.org/a', 'b-1', ['m1', 'm2']);
    expect(st.getChild('received', NS.receipts)?.attrs.id).toBe('b-1');
    expect(storedIds(st)).toEqual(['m1', 'm2']);
    expect(st.getChild('no-permanent-store', NS.hints)).toBeDefined();
    expect(storedIds(storedReceiptsStanza('alice@example.org/a', 's-1', ['m1']))).toEqual(['m1']);
  });
});

describe('batch capability of an announcement', () => {
  const announce = () => announcementToXml({ device: 9, fp: 'ZnA=', ts: 123, sig: 'c2ln' });

  it('is read from the announcement, bounded, and absent unless stated', () => {
    expect(batchCapability(xml('presence', {}, withBatchCapability(announce(), 64)))).toBe(64);
    expect(batchCapability(xml('presence', {}, withBatchCapability(announce(), 9999)))).toBe(MAX_BATCH_ITEMS);
    expect(batchCapability(xml('presence', {}, announce()))).toBeUndefined();
    expect(batchCapability(xml('presence'))).toBeUndefined();
    const bad = announce();
    bad.attrs.batch = '-3';
    expect(batchCapability(xml('presence', {}, bad))).toBeUndefined();
  });
});
