// XML forms of delivery (design.md "XMPP surfaces": Delivery, Presence), shared by the vault and
// the SDK: the signed device announcement in presence, the `<message>` that carries one device's
// sealed copy (XEP-0203 delay, XEP-0184 request, the original sender), and the device's receipt.
// The stanza id of a delivery names (sender, message id), so a receipt needs no state to resolve.
import type { AnnouncementWire, EnvelopeWire, StoredMessageHead } from '../keys/index.js';
import { toBase64 } from '../keys/index.js';
import { parseJid, xml, type Element, type Jid } from '../xmpp/index.js';
import { NS, noPermanentStore } from './namespaces.js';
import { envelopeToXml, strAttr, uintAttr } from './xml-codec.js';

/** `<announce xmlns='urn:sealpost:1' device fp ts sig/>`: sealpost support, device, IK fingerprint, signed. */
export function announcementToXml(a: AnnouncementWire): Element {
  return xml('announce', { xmlns: NS.sealpost, device: String(a.device), fp: a.fp, ts: String(a.ts), sig: a.sig });
}

/** The announcement of a presence stanza as a wire object (unchecked beyond shape); undefined when absent. */
export function announcementFromPresence(presence: Element): AnnouncementWire | undefined {
  const el = presence.getChild('announce', NS.sealpost);
  if (el === undefined) return undefined;
  return {
    device: uintAttr(el, 'device', 'announce'),
    fp: strAttr(el, 'fp', 'announce'),
    ts: uintAttr(el, 'ts', 'announce'),
    sig: strAttr(el, 'sig', 'announce'),
  };
}

const ID_PREFIX = 'sd1.';

/** Stanza id of a delivery: prefix ‖ base64url(sender bare JID) ‖ '.' ‖ message id. */
export function deliveryStanzaId(sender: string, messageId: string): string {
  return `${ID_PREFIX}${Buffer.from(sender, 'utf8').toString('base64url')}.${messageId}`;
}

/** Inverse of deliveryStanzaId; undefined for any other id. */
export function parseDeliveryStanzaId(id: unknown): { sender: string; messageId: string } | undefined {
  if (typeof id !== 'string' || !id.startsWith(ID_PREFIX) || id.length > 4096) return undefined;
  const rest = id.slice(ID_PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot <= 0 || dot === rest.length - 1) return undefined;
  const b64 = rest.slice(0, dot);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) return undefined;
  const sender = Buffer.from(b64, 'base64url').toString('utf8');
  if (Buffer.from(sender, 'utf8').toString('base64url') !== b64) return undefined; // canonical only
  return { sender, messageId: rest.slice(dot + 1) };
}

/** One device's copy of a stored message, as the delivery worker reads it from the archive. */
export interface DeliveryItem extends StoredMessageHead {
  /** Recipient bare JID (the archive's owner). */
  recipient: string;
  /** The recipient device and the one key block sealed to it: no other device's block travels. */
  device: number;
  prekeyId: number;
  keyBlock: Uint8Array;
}

/**
 * `<message type='headline'>` to the device's full JID. Headline: a server must not reroute it to
 * another resource or to offline storage when that resource is gone (RFC 6121 §8.5.3.2.1), so a
 * copy for one device never reaches another; the vault sends again on the next presence.
 */
export function deliveryStanza(to: string, vault: string, item: DeliveryItem): Element {
  const envelope: EnvelopeWire = {
    suite: item.suite,
    id: item.messageId,
    from: item.sender,
    device: item.senderDevice,
    to: item.recipient,
    blocks: [{ device: item.device, prekey: item.prekeyId, box: toBase64(item.keyBlock) }],
    size: item.payload.length,
    payload: toBase64(item.payload),
  };
  return xml(
    'message',
    { to, type: 'headline', id: deliveryStanzaId(item.sender, item.messageId) },
    envelopeToXml(envelope),
    xml('origin', { xmlns: NS.sealed, jid: item.sender, device: String(item.senderDevice) }),
    xml('delay', { xmlns: NS.delay, from: vault, stamp: new Date(item.receivedAt).toISOString() }),
    xml('request', { xmlns: NS.receipts }),
  );
}

/** The device's XEP-0184 receipt for a delivery (type normal: kept offline if the vault is away). */
export function deliveryReceipt(to: string, deliveryId: string): Element {
  return xml('message', { to }, xml('received', { xmlns: NS.receipts, id: deliveryId }), noPermanentStore());
}

export interface DeliveryReceipt {
  /** The stamped sender of the receipt: the recipient's full JID. */
  from: Jid & { resource: string };
  sender: string;
  messageId: string;
}

/** A receipt for a delivery, from a full JID; undefined for any other stanza. */
export function parseDeliveryReceipt(stanza: Element): DeliveryReceipt | undefined {
  if (!stanza.is('message') || stanza.attrs.type === 'error' || typeof stanza.attrs.from !== 'string') return undefined;
  const received = stanza.getChild('received', NS.receipts);
  if (received === undefined) return undefined;
  const ref = parseDeliveryStanzaId(received.attrs.id);
  if (ref === undefined) return undefined;
  let from: Jid;
  try {
    from = parseJid(stanza.attrs.from);
  } catch {
    return undefined;
  }
  if (from.resource === undefined) return undefined;
  return { from: { ...from, resource: from.resource }, ...ref };
}

/** The sealed element of a delivery and the delay stamp (ms), or undefined when not a delivery. */
export function deliveryFromStanza(stanza: Element): { id: string | undefined; sealed: Element; storedAt: number | undefined } | undefined {
  if (!stanza.is('message') || stanza.attrs.type === 'error') return undefined;
  const sealed = stanza.getChild('sealed', NS.sealed);
  if (sealed === undefined) return undefined;
  const stamp: unknown = stanza.getChild('delay', NS.delay)?.attrs.stamp;
  const storedAt = typeof stamp === 'string' ? Date.parse(stamp) : Number.NaN;
  return {
    id: typeof stanza.attrs.id === 'string' ? stanza.attrs.id : undefined,
    sealed,
    storedAt: Number.isFinite(storedAt) ? storedAt : undefined,
  };
}
