// Batches (issue 9): several sealed items in one stanza, each still acknowledged on its own, so a
// busy sender or a long backlog costs one stanza (and one commit) per batch instead of per item.
// - Submission receipts: one `<message>` from the vault with the XEP-0184 `<received/>` for the
//   submission stanza and one `<stored id/>` per committed item (refusals stay one per item).
// - Delivery: `<message type='headline'>` with one `<item xmlns='urn:sealpost:sealed:1' id/>` per
//   copy (its sealed element, origin and XEP-0203 stamp, as a single delivery carries them) and one
//   XEP-0184 request; the device answers with one `<message>` holding one `<received id/>` per copy
//   it took. A batch of one uses the single forms of delivery.ts and replies.ts. The vault sends
//   delivery batches only to a session whose device announcement says it takes them (`batch`, the
//   most copies per stanza): a client that does not know this form gets single deliveries.
import { randomBytes } from 'node:crypto';
import { parseJid, xml, type Element, type Jid } from '../xmpp/index.js';
import { deliveryFromStanza, deliveryReceipt, deliveryStanza, parseDeliveryStanzaId, type DeliveryItem, type DeliveryReceipt } from './delivery.js';
import { NS, noPermanentStore } from './namespaces.js';
import { receiptStanza } from './replies.js';

/** Items read from one batch stanza at most (a bound at the trust boundary, far above what is sent). */
export const MAX_BATCH_ITEMS = 256;

/** Marks a device announcement (`<announce/>`) as taking delivery batches of up to `max` copies. */
export function withBatchCapability(announce: Element, max: number): Element {
  announce.attrs.batch = String(max);
  return announce;
}

/** The most copies per delivery stanza a presence's announcement takes; undefined when it does not say. */
export function batchCapability(presence: Element): number | undefined {
  const value: unknown = presence.getChild('announce', NS.sealpost)?.attrs.batch;
  if (typeof value !== 'string' || !/^[1-9][0-9]{0,3}$/.test(value)) return undefined;
  return Math.min(Number(value), MAX_BATCH_ITEMS);
}

/** The receipt for several committed items of one submission stanza. */
export function storedReceiptsStanza(to: string, stanzaId: string, messageIds: readonly string[]): Element {
  if (messageIds.length === 1) return receiptStanza(to, stanzaId, messageIds[0] as string);
  return xml(
    'message',
    { to, type: 'normal' },
    xml('received', { xmlns: NS.receipts, id: stanzaId }),
    ...messageIds.map((id) => xml('stored', { xmlns: NS.sealed, id })),
    noPermanentStore(),
  );
}

/** The message ids a submission receipt names (`<stored/>` children), at most MAX_BATCH_ITEMS. */
export function storedIds(stanza: Element): string[] {
  const out: string[] = [];
  for (const el of stanza.getChildren('stored', NS.sealed)) {
    if (out.length >= MAX_BATCH_ITEMS) break;
    if (typeof el.attrs.id === 'string') out.push(el.attrs.id);
  }
  return out;
}

/** One stanza carrying every copy of `items` (all for the device at `to`). */
export function deliveryBatchStanza(to: string, vault: string, items: readonly DeliveryItem[]): Element {
  if (items.length === 1) return deliveryStanza(to, vault, items[0] as DeliveryItem);
  const stanza = xml('message', { to, type: 'headline', id: `sdb.${randomBytes(9).toString('base64url')}` });
  for (const item of items) {
    const single = deliveryStanza(to, vault, item);
    const parts = single.getChildElements().filter((c) => !c.is('request', NS.receipts));
    stanza.append(xml('item', { xmlns: NS.sealed, id: String(single.attrs.id) }, ...parts));
  }
  stanza.append(xml('request', { xmlns: NS.receipts }));
  return stanza;
}

export interface DeliveredCopy {
  /** The copy's delivery id (names sender and message id); the receipt echoes it. */
  id: string | undefined;
  sealed: Element;
  /** The XEP-0203 stamp (ms), when given. */
  storedAt: number | undefined;
}

/** The copies of a delivery stanza, single or batched (at most MAX_BATCH_ITEMS); undefined when none. */
export function deliveriesFromStanza(stanza: Element): DeliveredCopy[] | undefined {
  const single = deliveryFromStanza(stanza);
  if (single !== undefined) return [single];
  if (!stanza.is('message') || stanza.attrs.type === 'error') return undefined;
  const out: DeliveredCopy[] = [];
  for (const item of stanza.getChildren('item', NS.sealed)) {
    if (out.length >= MAX_BATCH_ITEMS) break;
    const sealed = item.getChild('sealed', NS.sealed);
    if (sealed === undefined) continue;
    const stamp: unknown = item.getChild('delay', NS.delay)?.attrs.stamp;
    const storedAt = typeof stamp === 'string' ? Date.parse(stamp) : Number.NaN;
    out.push({
      id: typeof item.attrs.id === 'string' ? item.attrs.id : undefined,
      sealed,
      storedAt: Number.isFinite(storedAt) ? storedAt : undefined,
    });
  }
  return out.length > 0 ? out : undefined;
}

/** The device's receipts for several copies in one stanza. */
export function deliveryReceipts(to: string, deliveryIds: readonly string[]): Element {
  if (deliveryIds.length === 1) return deliveryReceipt(to, deliveryIds[0] as string);
  return xml('message', { to }, ...deliveryIds.map((id) => xml('received', { xmlns: NS.receipts, id })), noPermanentStore());
}

/** Every delivery receipt in a stanza from a full JID (at most MAX_BATCH_ITEMS); [] for any other stanza. */
export function parseDeliveryReceipts(stanza: Element): DeliveryReceipt[] {
  if (!stanza.is('message') || stanza.attrs.type === 'error' || typeof stanza.attrs.from !== 'string') return [];
  let from: Jid;
  try {
    from = parseJid(stanza.attrs.from);
  } catch {
    return [];
  }
  if (from.resource === undefined) return [];
  const resource = from.resource;
  const out: DeliveryReceipt[] = [];
  for (const received of stanza.getChildren('received', NS.receipts)) {
    if (out.length >= MAX_BATCH_ITEMS) break;
    const ref = parseDeliveryStanzaId(received.attrs.id);
    if (ref !== undefined) out.push({ from: { ...from, resource }, ...ref });
  }
  return out;
}
