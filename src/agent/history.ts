// The SDK's history (issue 7): `history({ with, start, end, max })` pages through the vault's
// XEP-0313 archive with XEP-0059 RSM and opens each sealed history copy with the account's archive
// keys (current or retired), checking it exactly as keys.open does for `as: 'archive' | 'sent'`.
// The vault's words (ids, stamps, directions) are only hints: what is shown comes from the signed
// header. Also the owner's archive operations: delete by ids or range, retention policy.
import { AppError, ErrorCode } from '../errors/index.js';
import {
  archiveCopyFromWire,
  displayFingerprint,
  newMessageId,
  open,
  type Limits,
  type PrekeyStore,
  type TrustDecision,
  type TrustStore,
} from '../keys/index.js';
import { envelopeFromXml, formatStamp, NS, NS_ARCHIVE, parseFin, parseMamResult, type Fin, type ParsedResult } from '../protocol/index.js';
import { bareJid, xml, type Element, type XmppConnection } from '../xmpp/index.js';
import type { VaultLink } from './vault-link.js';

export interface HistoryOptions {
  /** Only items exchanged with this bare JID. */
  with?: string;
  /** Inclusive bounds on when the vault stored the item. */
  start?: Date | number;
  end?: Date | number;
  /** Stop after this many items (default: all). */
  max?: number;
  /** Newest first (default oldest first). */
  reverse?: boolean;
  /** Items per query (default 100, at most what the vault allows). */
  pageSize?: number;
  /** Throw on the first item that does not open, instead of yielding it with `ok: false`. */
  strict?: boolean;
}

interface EntryBase {
  archiveId: string;
  /** When the vault stored it (XEP-0203 stamp). */
  storedAt: number;
}

/** An opened history item: a message this account received ('in') or sent ('out'). */
export interface HistoryMessage extends EntryBase {
  ok: true;
  direction: 'in' | 'out';
  /** The other party (the signed sender of 'in', the signed recipient of 'out'). */
  with: string;
  messageId: string;
  /** Sender bare JID and device, from the signed header. */
  from: string;
  device: number;
  fingerprint: string;
  trust: TrustDecision;
  contentType: string;
  data: Uint8Array;
  /** Sender's signed timestamp (ms). */
  sentAt: number;
  /** Archive key that opened it. */
  archiveKeyId: number;
  text(): string;
}

/** An item that could not be opened (e.g. its archive key was forgotten). */
export interface HistoryFailure extends EntryBase {
  ok: false;
  /** Unverified: what the vault's copy claims. */
  messageId: string | undefined;
  error: AppError;
}

export type HistoryEntry = HistoryMessage | HistoryFailure;

export interface HistoryDeps {
  conn: XmppConnection;
  link: VaultLink;
  jid: string;
  prekeys: PrekeyStore;
  trust: TrustStore;
  limits: Limits;
  now: () => number;
}

const DEFAULT_PAGE = 100;

function ms(label: string, v: Date | number): number {
  const t = v instanceof Date ? v.getTime() : v;
  if (!Number.isFinite(t) || t < 0) throw new RangeError(`${label}: expected a date or ms since 1970`);
  return Math.floor(t);
}

function field(name: string, ...values: string[]): Element {
  return xml('field', { var: name }, ...values.map((v) => xml('value', {}, v)));
}

interface Page {
  items: ParsedResult[];
  fin: Fin;
}

/** One MAM query: collects this query's result messages from the vault until the IQ result. */
async function queryPage(deps: HistoryDeps, form: Element[], rsm: Element[], max: number): Promise<Page> {
  const queryId = newMessageId();
  const items: ParsedResult[] = [];
  let problem: AppError | undefined;
  const off = deps.conn.on('stanza', (stanza) => {
    if (!stanza.is('message') || typeof stanza.attrs.from !== 'string') return;
    try {
      if (bareJid(stanza.attrs.from) !== deps.link.bare) return; // only the vault answers for our archive
      const r = parseMamResult(stanza);
      if (r === undefined || r.queryId !== queryId) return;
      if (items.length >= max) throw new AppError(ErrorCode.BadInput, `the vault sent more than the ${max} items asked for`);
      items.push(r);
    } catch (err) {
      problem ??= AppError.is(err) ? err : new AppError(ErrorCode.BadInput, 'malformed history result');
    }
  });
  let reply: Element | undefined;
  try {
    const x = xml('x', { xmlns: NS.dataForms, type: 'submit' }, field('FORM_TYPE', NS.mam), ...form);
    reply = await deps.link.iq('set', xml('query', { xmlns: NS.mam, queryid: queryId }, x, xml('set', { xmlns: NS.rsm }, ...rsm)));
  } finally {
    off();
  }
  if (problem !== undefined) throw problem;
  return { items, fin: parseFin(reply) };
}

async function openItem(deps: HistoryDeps, r: ParsedResult): Promise<HistoryEntry> {
  const base = { archiveId: r.archiveId, storedAt: r.timestamp };
  let messageId: string | undefined;
  try {
    const wire = envelopeFromXml(r.sealed, 1);
    messageId = wire.id;
    const env = archiveCopyFromWire(wire, deps.limits);
    const block = env.blocks[0];
    const sent = block?.target.kind === 'ak' && block.target.owner === 'sender';
    const m = await open(env, { as: sent ? 'sent' : 'archive', me: { jid: deps.jid }, prekeys: deps.prekeys, trust: deps.trust, now: deps.now, limits: deps.limits });
    const data = m.plaintext;
    return {
      ...base,
      ok: true,
      direction: sent ? 'out' : 'in',
      with: sent ? m.recipient : m.sender.jid,
      messageId: m.messageId,
      from: m.sender.jid,
      device: m.sender.device,
      fingerprint: displayFingerprint(m.sender.identityKey),
      trust: m.trust,
      contentType: m.contentType,
      data,
      sentAt: m.timestamp,
      archiveKeyId: m.prekey.id,
      text: () => new TextDecoder().decode(data),
    };
  } catch (err) {
    const error = AppError.is(err) ? err : new AppError(ErrorCode.Internal, 'history item failed to open', { cause: err });
    return { ...base, ok: false, messageId, error };
  }
}

/** Pages through the archive and yields each item opened, oldest first (or newest with `reverse`). */
export async function* history(deps: HistoryDeps, options: HistoryOptions = {}): AsyncGenerator<HistoryEntry, void, undefined> {
  const form: Element[] = [];
  if (options.with !== undefined) form.push(field('with', bareJid(options.with)));
  if (options.start !== undefined) form.push(field('start', formatStamp(ms('start', options.start))));
  if (options.end !== undefined) form.push(field('end', formatStamp(ms('end', options.end))));
  const total = options.max ?? Number.POSITIVE_INFINITY;
  if (!(total >= 0)) throw new RangeError('max: expected a non-negative number');
  const pageSize = options.pageSize ?? DEFAULT_PAGE;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError('pageSize: expected a positive integer');
  let cursor: string | undefined = options.reverse === true ? '' : undefined;
  let given = 0;
  const seen = new Set<string>();
  while (given < total) {
    const want = Math.min(pageSize, total - given);
    const rsm = [xml('max', {}, String(want))];
    if (options.reverse === true) rsm.push(xml('before', {}, cursor ?? ''));
    else if (cursor !== undefined) rsm.push(xml('after', {}, cursor));
    const page = await queryPage(deps, form, rsm, want);
    const items = options.reverse === true ? [...page.items].reverse() : page.items;
    for (const r of items) {
      if (seen.has(r.archiveId)) throw new AppError(ErrorCode.BadInput, `the vault sent archive item ${r.archiveId} twice`);
      seen.add(r.archiveId);
      const entry = await openItem(deps, r);
      if (!entry.ok && options.strict === true) throw entry.error;
      yield entry;
      if (++given >= total) return;
    }
    const next = options.reverse === true ? page.fin.first : page.fin.last;
    if (page.fin.complete || items.length === 0 || next === undefined) return;
    cursor = next;
  }
}

/** What to delete: archive ids, or a range (with, start, end), or `all: true` alone. */
export interface DeleteHistory {
  ids?: readonly string[];
  with?: string;
  start?: Date | number;
  end?: Date | number;
  all?: boolean;
}

/** The owner deletes items from its archive; resolves with how many went. */
export async function deleteHistory(link: VaultLink, sel: DeleteHistory): Promise<number> {
  const attrs: Record<string, string> = { xmlns: NS_ARCHIVE };
  if (sel.with !== undefined) attrs.with = bareJid(sel.with);
  if (sel.start !== undefined) attrs.start = formatStamp(ms('start', sel.start));
  if (sel.end !== undefined) attrs.end = formatStamp(ms('end', sel.end));
  if (sel.all === true) attrs.all = 'true';
  const items = (sel.ids ?? []).map((id) => xml('item', { id }));
  const reply = await link.iq('set', xml('delete', attrs, ...items));
  const count: unknown = reply?.attrs.count;
  if (reply?.name !== 'deleted' || typeof count !== 'string' || !/^[0-9]{1,15}$/.test(count))
    throw new AppError(ErrorCode.BadInput, 'the vault answered a delete without <deleted count=""/>');
  return Number(count);
}

/** The user's retention policy as the vault applies it, in seconds (null = none). */
export interface RetentionPolicy {
  /** The user's own policy (XEP-0136 `expire`). */
  user: number | null;
  /** The operator's retention for every archive. */
  global: number | null;
  /** The tighter of the two: items older than this are purged. */
  effective: number | null;
}

function policyFrom(el: Element | undefined): RetentionPolicy {
  if (el?.name !== 'retention' || el.getNS() !== NS_ARCHIVE) throw new AppError(ErrorCode.BadInput, 'the vault answered without <retention/>');
  const n = (v: unknown): number | null => (typeof v === 'string' && /^[0-9]{1,15}$/.test(v) ? Number(v) : null);
  return { user: n(el.attrs.expire), global: n(el.attrs.global), effective: n(el.attrs.effective) };
}

/** Sets (seconds) or clears (null) the user's retention policy. */
export async function setRetention(link: VaultLink, seconds: number | null): Promise<RetentionPolicy> {
  if (seconds !== null && (!Number.isInteger(seconds) || seconds < 1)) throw new RangeError('retention: expected whole seconds ≥ 1, or null');
  return policyFrom(await link.iq('set', xml('retention', { xmlns: NS_ARCHIVE, ...(seconds === null ? {} : { expire: String(seconds) }) })));
}

export async function getRetention(link: VaultLink): Promise<RetentionPolicy> {
  return policyFrom(await link.iq('get', xml('retention', { xmlns: NS_ARCHIVE })));
}
