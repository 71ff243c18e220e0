// The delivery stanza shapes (issue 6): the stanza id names (sender, message id) and parses back
// exactly; a delivery carries one key block, the origin, a XEP-0203 stamp and a XEP-0184 request;
// only a receipt from a full JID for a delivery id counts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeFromWire, initSodium } from '../../../src/keys/index.js';
import { NS } from '../../../src/protocol/namespaces.js';
import {
  announcementFromPresence,
  announcementToXml,
  deliveryFromStanza,
  deliveryReceipt,
  deliveryStanza,
  deliveryStanzaId,
  parseDeliveryReceipt,
  parseDeliveryStanzaId,
  type DeliveryItem,
} from '../../../src/protocol/delivery.js';
import { envelopeFromXml } from '../../../src/protocol/xml-codec.js';
import { xml } from '../../../src/xmpp/index.js';

await initSodium();

const item: DeliveryItem = {
  recipient: 'bob@example.org',
  sender: 'alice@example.org',
  senderDevice: 7,
  messageId: 'abcDEF_-12',
  suite: 'sp1',
  receivedAt: Date.UTC(2025, 0, 2, 3, 4, 5),
  payload: new Uint8Array(64).fill(1),
  device: 101,
  prekeyId: 5,
  keyBlock: new Uint8Array(300).fill(2),
};

describe('delivery stanza ids', () => {
  it('round-trip any sender and message id', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), (sender, id) => {
        expect(parseDeliveryStanzaId(deliveryStanzaId(sender, id))).toEqual({ sender, messageId: id });
      }),
    );
  });

  it('refuse other ids and non-canonical encodings', () => {
    for (const id of [undefined, 42, '', 'abc', 'sd1.', 'sd1.YQ', 'sd1..m', 'sd1.YQ.', 'sd1.Y+Q.m', 'sd1.YR.m', `sd1.${'A'.repeat(5000)}.m`])
      expect(parseDeliveryStanzaId(id)).toBeUndefined();
  });
});

describe('delivery stanza', () => {
  it("carries the device's key block only, the origin, a delay stamp and a receipt request", () => {
    const st = deliveryStanza('bob@example.org/phone', 'vault@example.org', item);
    expect(st.attrs).toMatchObject({ to: 'bob@example.org/phone', type: 'headline' });
    const sealed = st.getChild('sealed', NS.sealed);
    expect(sealed?.getChildren('key').map((k) => String(k.attrs.device))).toEqual(['101']);
    expect(st.getChild('origin', NS.sealed)?.attrs).toMatchObject({ jid: 'alice@example.org', device: '7' });
    expect(st.getChild('delay', NS.delay)?.attrs).toMatchObject({ from: 'vault@example.org', stamp: '2025-01-02T03:04:05.000Z' });
    expect(st.getChild('request', NS.receipts)).toBeDefined();
    expect(parseDeliveryStanzaId(st.attrs.id)).toEqual({ sender: 'alice@example.org', messageId: item.messageId });

    const parsed = deliveryFromStanza(st);
    expect(parsed?.storedAt).toBe(item.receivedAt);
    const env = envelopeFromWire(envelopeFromXml(parsed!.sealed, 4));
    expect(env).toMatchObject({ messageId: item.messageId, sender: { jid: item.sender, device: 7 }, recipient: item.recipient });
    expect(env.blocks).toHaveLength(1);
    expect(env.blocks[0]?.target).toEqual({ kind: 'device', device: 101 });
  });

  it('is not a delivery without a sealed element or as an error', () => {
    expect(deliveryFromStanza(xml('message', {}, xml('body', {}, 'x')))).toBeUndefined();
    const st = deliveryStanza('bob@example.org/phone', 'vault@example.org', item);
    st.attrs.type = 'error';
    expect(deliveryFromStanza(st)).toBeUndefined();
  });
});

describe('receipts', () => {
  const id = deliveryStanzaId('alice@example.org', 'm1');
  const received = (from: string, type?: string) => {
    const st = deliveryReceipt('vault@example.org/v', id);
    st.attrs.from = from;
    if (type !== undefined) st.attrs.type = type;
    return st;
  };

  it('parse from a full JID, normalised', () => {
    expect(parseDeliveryReceipt(received('Bob@Example.org/phone'))).toMatchObject({
      from: { bare: 'bob@example.org', resource: 'phone' },
      sender: 'alice@example.org',
      messageId: 'm1',
    });
  });

  it('ignore bare JIDs, errors, and receipts for other ids', () => {
    expect(parseDeliveryReceipt(received('bob@example.org'))).toBeUndefined();
    expect(parseDeliveryReceipt(received('bob@example.org/phone', 'error'))).toBeUndefined();
    const other = xml('message', { from: 'bob@example.org/phone' }, xml('received', { xmlns: NS.receipts, id: 'abc' }));
    expect(parseDeliveryReceipt(other)).toBeUndefined();
  });
});

describe('announcement element', () => {
  it('round-trips and is absent from plain presence', () => {
    const wire = { device: 9, fp: 'ZnA=', ts: 123, sig: 'c2ln' };
    expect(announcementFromPresence(xml('presence', {}, announcementToXml(wire)))).toEqual(wire);
    expect(announcementFromPresence(xml('presence'))).toBeUndefined();
    expect(() => announcementFromPresence(xml('presence', {}, xml('announce', { xmlns: NS.sealpost, device: 'x' })))).toThrow();
  });
});
