// Wire shapes of the history surfaces, shared by the vault (src/ingest/mam.ts, the retention
// worker's notices) and the SDK (src/agent/history.ts): XEP-0313 result messages and <fin/> with
// XEP-0059 RSM, XEP-0203 delay stamps in XEP-0082 DateTime, the sealpost archive operations
// (delete, retention) and the notice that an undelivered message expired.
import { AppError, ErrorCode } from '../errors/index.js';
import { xml, type Element } from '../xmpp/index.js';
import { NS } from './namespaces.js';

/** Namespace of the user operations on one's own archive: <delete/>, <retention/>. */
export const NS_ARCHIVE = 'urn:sealpost:archive:1';
/** XEP-0334 hints: the answers are not to be archived again by the XMPP server. */
export const NS_HINTS = 'urn:xmpp:hints';
/** XEP-0313 §"Extended" features: before-id/after-id, ids, flip-page. */
export const MAM_EXTENDED = `${NS.mam}#extended`;

const STAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/;
const MAX_TIME = 8.64e15;

function bad(text: string): never {
  throw new AppError(ErrorCode.BadInput, text);
}

/** An XEP-0082 DateTime with milliseconds, UTC: 2025-01-01T12:00:00.000Z. */
export function formatStamp(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Parses an XEP-0082 DateTime to ms since the epoch. Fractions finer than a millisecond are
 * rounded down, or up with `ceil` (an inclusive lower bound must not take an earlier item).
 * Times before 1970 clamp to 0. BadInput names `label` for anything else.
 */
export function parseStamp(text: string, label: string, rounding: 'floor' | 'ceil' = 'floor'): number {
  const m = STAMP.exec(text.trim());
  if (m === null) bad(`${label}: expected an XEP-0082 DateTime such as 2025-01-31T23:59:59Z`);
  const n = (i: number): number => Number(m[i]);
  const [year, month, day, hour, minute, second] = [n(1), n(2), n(3), n(4), n(5), n(6)];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59)
    bad(`${label}: not a valid date and time`);
  date.setUTCFullYear(year); // Date.UTC maps years 0..99 to 1900..1999
  const frac = m[7] ?? '';
  let ms = date.getTime() + Number(frac.slice(0, 3).padEnd(3, '0'));
  if (rounding === 'ceil' && /[1-9]/.test(frac.slice(3))) ms += 1;
  if (m[8] !== 'Z') {
    const offset = (n(10) * 60 + n(11)) * 60_000;
    if (n(10) > 23 || n(11) > 59) bad(`${label}: bad time zone offset`);
    ms += m[9] === '+' ? -offset : offset;
  }
  return Math.min(Math.max(ms, 0), MAX_TIME);
}

/** What a result message carries (the sealed item is built by the caller). */
export interface MamResultItem {
  archiveId: string;
  timestamp: number;
  /** The original message's sender and recipient (bare JIDs). */
  from: string;
  to: string;
  sealed: Element;
}

/** XEP-0313 §4.2 result message for one archived item, to the querying resource. */
export function mamResultStanza(to: string, queryId: string | undefined, item: MamResultItem): Element {
  return xml(
    'message',
    { to },
    xml(
      'result',
      { xmlns: NS.mam, ...(queryId === undefined ? {} : { queryid: queryId }), id: item.archiveId },
      xml(
        'forwarded',
        { xmlns: NS.forward },
        xml('delay', { xmlns: NS.delay, stamp: formatStamp(item.timestamp) }),
        xml('message', { xmlns: 'jabber:client', from: item.from, to: item.to, type: 'normal' }, item.sealed),
      ),
    ),
    xml('no-store', { xmlns: NS_HINTS }),
  );
}

export interface Fin {
  complete: boolean;
  first?: string | undefined;
  /** RSM first@index: position of `first` among all matches. */
  firstIndex?: number | undefined;
  last?: string | undefined;
  count?: number | undefined;
}

/** XEP-0313 §4.3 <fin/> with the XEP-0059 RSM answer. */
export function finElement(fin: Fin): Element {
  const set = xml('set', { xmlns: NS.rsm });
  if (fin.first !== undefined)
    set.append(xml('first', fin.firstIndex === undefined ? {} : { index: String(fin.firstIndex) }, fin.first));
  if (fin.last !== undefined) set.append(xml('last', {}, fin.last));
  if (fin.count !== undefined) set.append(xml('count', {}, String(fin.count)));
  return xml('fin', { xmlns: NS.mam, ...(fin.complete ? { complete: 'true' } : {}) }, set);
}

const UINT = /^(0|[1-9][0-9]{0,14})$/;

/** Client side: the <fin/> of an IQ result. */
export function parseFin(el: Element | undefined): Fin {
  if (el?.name !== 'fin' || el.getNS() !== NS.mam) bad('the vault answered the history query without <fin/>');
  const set = el.getChild('set', NS.rsm);
  const text = (name: string): string | undefined => {
    const t = set?.getChildText(name);
    return t === null || t === undefined || t === '' ? undefined : t;
  };
  const num = (v: unknown): number | undefined => (typeof v === 'string' && UINT.test(v) ? Number(v) : undefined);
  return {
    complete: el.attrs.complete === 'true' || el.attrs.complete === '1',
    first: text('first'),
    firstIndex: num(set?.getChild('first')?.attrs.index),
    last: text('last'),
    count: num(text('count')),
  };
}

/** The parts of a result message a client needs; undefined when `stanza` is not one. */
export interface ParsedResult {
  queryId: string | undefined;
  archiveId: string;
  timestamp: number;
  /** The <sealed/> element inside the forwarded message. */
  sealed: Element;
}

export function parseMamResult(stanza: Element): ParsedResult | undefined {
  if (!stanza.is('message') || stanza.attrs.type === 'error') return undefined;
  const result = stanza.getChild('result', NS.mam);
  if (result === undefined) return undefined;
  const archiveId: unknown = result.attrs.id;
  if (typeof archiveId !== 'string' || archiveId === '') bad('history result without an archive id');
  const forwarded = result.getChild('forwarded', NS.forward);
  const stamp: unknown = forwarded?.getChild('delay', NS.delay)?.attrs.stamp;
  const sealed = forwarded?.getChild('message')?.getChild('sealed', NS.sealed);
  if (typeof stamp !== 'string' || sealed === undefined) bad(`history result ${archiveId}: missing delay or sealed item`);
  const queryId = typeof result.attrs.queryid === 'string' ? result.attrs.queryid : undefined;
  return { queryId, archiveId, timestamp: parseStamp(stamp, 'delay stamp'), sealed };
}

/** Why an undelivered copy went away. */
export type ExpiryReason = 'transit-ttl' | 'retention';

export interface ExpiryNotice {
  /** The sender's bare JID (the notice goes there). */
  sender: string;
  recipient: string;
  messageId: string;
  reason: ExpiryReason;
  /** Recipient devices that never acknowledged it. */
  devices: readonly number[];
}

/**
 * Tells a sender that its message expired undelivered. A `type='normal'` message to the bare JID,
 * so the XMPP server keeps it while the sender is offline: RFC 6121 §8.5.2.1.1 and §8.5.2.2.1
 * have a server drop `type='error'` messages to a bare JID, and the sender's session that
 * submitted the message is long gone after a transit TTL.
 */
export function expiryNoticeStanza(n: ExpiryNotice): Element {
  return xml(
    'message',
    { to: n.sender, type: 'normal', id: `expired-${n.messageId}` },
    xml('expired', { xmlns: NS.sealed, id: n.messageId, to: n.recipient, reason: n.reason, devices: n.devices.join(' ') }),
  );
}

/** SDK side: the notice's fields, or undefined when `stanza` is not one. */
export function parseExpiryNotice(stanza: Element): Omit<ExpiryNotice, 'sender'> | undefined {
  if (!stanza.is('message') || stanza.attrs.type === 'error') return undefined;
  const el = stanza.getChild('expired', NS.sealed);
  if (el === undefined) return undefined;
  const { id, to, reason, devices } = el.attrs as Record<string, unknown>;
  if (typeof id !== 'string' || typeof to !== 'string' || (reason !== 'transit-ttl' && reason !== 'retention')) return undefined;
  const list = typeof devices === 'string' && devices !== '' ? devices.split(' ').filter((d) => UINT.test(d)).map(Number) : [];
  return { messageId: id, recipient: to, reason, devices: list };
}
