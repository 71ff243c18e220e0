// History at the vault (design.md "XMPP surfaces": History; issue 7): XEP-0313 (MAM v2) queries
// to the vault's full JID, answered with one result message per archived item — the sealed history
// copy forwarded (XEP-0297) with its XEP-0203 delay — then the IQ result's <fin/> with XEP-0059 RSM;
// and the owner's operations in urn:sealpost:archive:1: <delete/> by ids or range, and
// <retention expire='seconds'/> (XEP-0136's `expire` meaning) as the user's policy.
// Only the owner reaches an archive: the bare JID the XMPP server stamped (invariant 4).
// One account's queries must not stall the event loop every delivery shares (issue 14, attack 5):
// a page reads at most MAX_MAM_PAGE_BYTES (in SQL, archive/history.ts), and queries are
// rate-limited per account (policy-violation past the burst).
import { AppError, ErrorCode } from '../errors/index.js';
import type { ArchiveStore, HistoryItem, HistoryPage } from '../archive/index.js';
import { toBase64, type EnvelopeWire } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { createRateLimiter, type RedisEval } from '../ratelimit/index.js';
import { answerIq, envelopeToXml, finElement, mamResultStanza, NS, NS_ARCHIVE, parseStamp } from '../protocol/index.js';
import { parseJid, xml, type Element, type XmppConnection } from '../xmpp/index.js';
import { MAM_FIELDS, parseMamQuery, type MamLimits } from './mam-query.js';
import { keyedSerializer } from './serial.js';

export interface MamDeps {
  conn: XmppConnection;
  archive: Pick<ArchiveStore, 'query' | 'deleteItems' | 'setRetention' | 'getRetention'>;
  limits: MamLimits;
  /** The operator's retention in seconds (0 = none), shown beside the user's policy. */
  globalRetentionSeconds: number;
  /** History queries per account: a token bucket of `mamBurst`, refilled at `mamRatePerMinute`. */
  mamRatePerMinute: number;
  mamBurst: number;
  /** Redis for the query rate limiter, and its key prefix. */
  redis: RedisEval;
  prefix: string;
  /** The deployment's key for names in Redis (the limiter's bucket names). */
  redisNameKey: Uint8Array;
  logger: Logger;
}

const MAX_RETENTION = 100 * 365 * 86400;
/** Most items in one answer (XEP-0059 §2.1 lets a server return fewer than asked for). */
export const MAX_MAM_PAGE = 250;
/** Sealed bytes one answer reads and sends: a page of large items is cut short (and not complete). */
export const MAX_MAM_PAGE_BYTES = 1024 * 1024;
const UINT = /^[1-9][0-9]{0,10}$/;

/** The stamped sender's bare JID; a JID without a local part owns no archive. */
function ownerOf(from: string): string {
  const jid = parseJid(from);
  if (jid.local === undefined) throw new AppError(ErrorCode.Forbidden, 'only user accounts have archives');
  return jid.bare;
}

/** A JID the request names (attribute `jid`) must be the requester's own. */
function checkNamed(el: Element, owner: string): void {
  const named: unknown = el.attrs.jid;
  if (named === undefined) return;
  if (typeof named !== 'string' || parseJid(named).bare !== owner)
    throw new AppError(ErrorCode.Forbidden, 'only the owner may use an archive');
}

/** The history copy as it travels: the envelope fields with the one archive key block. */
export function historyWire(owner: string, item: HistoryItem): EnvelopeWire {
  const incoming = item.direction === 'in';
  return {
    suite: item.suite,
    id: item.messageId,
    from: incoming ? item.with : owner,
    device: item.senderDevice,
    to: incoming ? owner : item.with,
    blocks: [{ ak: incoming ? 'recipient' : 'sender', prekey: item.archiveBlock.akId, box: toBase64(item.archiveBlock.block) }],
    size: item.payload.length,
    payload: toBase64(item.payload),
  };
}

function queryForm(): Element {
  const types: Record<string, string> = { FORM_TYPE: 'hidden', with: 'jid-single', ids: 'text-multi' };
  return xml(
    'query',
    { xmlns: NS.mam },
    xml(
      'x',
      { xmlns: NS.dataForms, type: 'form' },
      ...MAM_FIELDS.map((v) =>
        v === 'FORM_TYPE'
          ? xml('field', { var: v, type: 'hidden' }, xml('value', {}, NS.mam))
          : xml('field', { var: v, type: types[v] ?? 'text-single' }),
      ),
    ),
  );
}

function parseDelete(el: Element, maxIds: number): Parameters<ArchiveStore['deleteItems']>[1] {
  const items = el.getChildren('item');
  if (el.getChildElements().length !== items.length) throw new AppError(ErrorCode.BadInput, 'delete: only <item id=""/> children');
  if (items.length > maxIds) throw new AppError(ErrorCode.BadInput, `delete: at most ${maxIds} items`);
  const attr = (name: string): string | undefined => {
    const v: unknown = el.attrs[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw new AppError(ErrorCode.BadInput, `delete: ${name} must not be empty`);
    return v;
  };
  const w = attr('with');
  const start = attr('start');
  const end = attr('end');
  const all = attr('all');
  if (all !== undefined && all !== 'true') throw new AppError(ErrorCode.BadInput, "delete: all must be 'true'");
  return {
    ...(items.length > 0 ? { ids: items.map((i) => String(i.attrs.id ?? '')) } : {}),
    ...(w === undefined ? {} : { with: parseJid(w).bare }),
    ...(start === undefined ? {} : { start: parseStamp(start, 'delete start', 'ceil') }),
    ...(end === undefined ? {} : { end: parseStamp(end, 'delete end', 'floor') }),
    ...(all === undefined ? {} : { all: true }),
  };
}

/** Registers the history IQs; close() retires them. */
export function registerMam(deps: MamDeps): { close(): void } {
  const { conn, archive } = deps;
  const limits: MamLimits = { ...deps.limits, maxPage: Math.min(deps.limits.maxPage, MAX_MAM_PAGE) };
  const log = deps.logger.child({ module: 'mam' });
  const offs: (() => void)[] = [];
  const oneAtATime = keyedSerializer();
  const rate = createRateLimiter(deps.redis, `${deps.prefix}:rl:mam`, { capacity: deps.mamBurst, perMinute: deps.mamRatePerMinute }, deps.redisNameKey);

  offs.push(conn.iqCallee.get(NS.mam, 'query', (ctx) =>
    answerIq(log, 'mam form', () => {
      ownerOf(ctx.from);
      return queryForm();
    }),
  ));

  offs.push(conn.iqCallee.set(NS.mam, 'query', (ctx) =>
    answerIq(log, 'mam query', async () => {
      const started = Date.now();
      const owner = ownerOf(ctx.from);
      const take = await rate.take(`mam ${owner}`);
      if (!take.allowed) throw new AppError(ErrorCode.Policy, `too many history queries; retry in ${Math.ceil(take.retryAfterMs / 1000)} s`);
      const q = parseMamQuery(ctx.element, limits);
      if (q.archive !== undefined && q.archive !== owner)
        throw new AppError(ErrorCode.Forbidden, 'only the owner may query an archive');
      // Pages are read and written one at a time, each in its own turn of the event loop, so
      // queries that arrive together never hold it for more than one page's work.
      let sent: { page: HistoryPage; items: HistoryItem[]; writes: Promise<void>[] } | undefined;
      await oneAtATime('', async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const page = archive.query(owner, { ...q.query, maxBytes: MAX_MAM_PAGE_BYTES });
        const items = q.flip ? [...page.items].reverse() : page.items;
        // Result messages first, then the IQ result (XEP-0313 §4.2). Writes go out on one stream
        // in call order, so the page is written without waiting for each write before the next.
        const writes = items.map((item) =>
          conn.send(
            mamResultStanza(ctx.from, q.queryId, {
              archiveId: item.archiveId,
              timestamp: item.timestamp,
              from: item.direction === 'in' ? item.with : owner,
              to: item.direction === 'in' ? owner : item.with,
              sealed: envelopeToXml(historyWire(owner, item)),
            }),
          ),
        );
        sent = { page, items, writes };
      });
      if (sent === undefined) throw new AppError(ErrorCode.Internal, 'history page not read');
      const { page, items } = sent;
      await Promise.all(sent.writes);
      const first = items[0];
      log.debug({ items: items.length, complete: page.complete, ms: Date.now() - started }, 'history page sent');
      return finElement({
        complete: page.complete,
        first: first?.archiveId,
        // With flip-page the page runs newest first; RSM first/last name the items as sent.
        firstIndex: q.flip ? undefined : page.firstIndex,
        last: items.at(-1)?.archiveId,
        count: page.count,
      });
    }),
  ));

  offs.push(conn.iqCallee.set(NS_ARCHIVE, 'delete', (ctx) =>
    answerIq(log, 'archive delete', () => {
      const owner = ownerOf(ctx.from);
      checkNamed(ctx.element, owner);
      const removed = archive.deleteItems(owner, parseDelete(ctx.element, limits.maxIds));
      log.info({ removed }, 'history items deleted by the owner');
      return xml('deleted', { xmlns: NS_ARCHIVE, count: String(removed) });
    }),
  ));

  const retentionAnswer = (owner: string): Element => {
    const user = archive.getRetention(owner);
    const global = deps.globalRetentionSeconds;
    const limits = [user, global].filter((s): s is number => s !== null && s > 0);
    return xml('retention', {
      xmlns: NS_ARCHIVE,
      ...(user === null ? {} : { expire: String(user) }),
      ...(global > 0 ? { global: String(global) } : {}),
      ...(limits.length === 0 ? {} : { effective: String(Math.min(...limits)) }),
    });
  };

  offs.push(conn.iqCallee.get(NS_ARCHIVE, 'retention', (ctx) =>
    answerIq(log, 'retention get', () => {
      const owner = ownerOf(ctx.from);
      checkNamed(ctx.element, owner);
      return retentionAnswer(owner);
    }),
  ));

  offs.push(conn.iqCallee.set(NS_ARCHIVE, 'retention', (ctx) =>
    answerIq(log, 'retention set', () => {
      const owner = ownerOf(ctx.from);
      checkNamed(ctx.element, owner);
      const expire: unknown = ctx.element.attrs.expire;
      if (expire !== undefined && (typeof expire !== 'string' || !UINT.test(expire) || Number(expire) > MAX_RETENTION))
        throw new AppError(ErrorCode.BadInput, `retention: expire must be seconds, 1..${MAX_RETENTION}, or absent to keep everything`);
      archive.setRetention(owner, expire === undefined ? null : Number(expire));
      log.info({ expire: expire ?? null }, 'retention policy set by the owner');
      return retentionAnswer(owner);
    }),
  ));
  return { close: () => offs.forEach((off) => off()) };
}
