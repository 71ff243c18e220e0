// History of one user's archive for XEP-0313 (MAM v2) queries with XEP-0059 (RSM) paging:
// with/start/end/ids/after-id/before-id filters, after/before cursors, max, count, first index.
// Only rows with a history copy (ak_block) are visible; order is arrival order (seq).
// Every query's work is bounded (issue 14, attack 5: one account's queries stalled the event loop
// all deliveries share): a page reads the sizes first and then only the rows that fit its byte
// budget, counts stop at COUNT_CAP (left out past it, XEP-0059 §2.7), an RSM index past MAX_INDEX
// is refused.
import { AppError, ErrorCode } from '../errors/index.js';
import { normaliseBareJid } from './jid.js';
import { bad, checkArchiveId, checkTime, checkUint, type ArchiveBlock, type ArchiveLimits } from './types.js';
import type { UserDb } from './user-db.js';

export interface HistoryQuery {
  /** Peer bare JID (the sender of incoming, the recipient of outgoing items). */
  with?: string | undefined;
  /** Inclusive bounds on the received time, ms. */
  start?: number | undefined;
  end?: number | undefined;
  /** Only these archive ids. */
  ids?: readonly string[] | undefined;
  /** MAM after-id / before-id: exclusive bounds, part of the filter (and of `count`). */
  afterId?: string | undefined;
  beforeId?: string | undefined;
  /** RSM cursor: the page after this archive id. */
  after?: string | undefined;
  /** RSM cursor: the page before this archive id; '' = the last page. */
  before?: string | undefined;
  /** RSM index: skip this many matches (forward paging only, instead of after/before). */
  index?: number | undefined;
  /** Page size (RSM max); 0 returns only the count. */
  max: number;
  /** Sealed bytes (payload and archive block) the page may read; at least one item is read. Default unbounded. */
  maxBytes?: number | undefined;
  /** Also count every match of the filter (RSM count) and the first item's index. */
  count?: boolean | undefined;
}

export interface HistoryItem {
  archiveId: string;
  /** When the vault received it, ms (for the XEP-0203 delay stamp). */
  timestamp: number;
  direction: 'in' | 'out';
  /** The other party: sender of an incoming item, recipient of an outgoing one. */
  with: string;
  senderDevice: number;
  messageId: string;
  suite: string;
  payload: Uint8Array;
  archiveBlock: ArchiveBlock;
}

export interface HistoryPage {
  /** In archive order (oldest first), also for a backwards page. */
  items: HistoryItem[];
  first?: string | undefined;
  last?: string | undefined;
  /** No further items exist in the paging direction. */
  complete: boolean;
  /** Every match of the filter, when asked and at most COUNT_CAP (XEP-0059 §2.7 lets it be left out). */
  count?: number | undefined;
  /** Position of `first` among all matches (RSM first@index), with `count`; left out past COUNT_CAP. */
  firstIndex?: number | undefined;
}

/** Matches counted at most: past it `count` and first@index are left out (each count reads row headers). */
export const COUNT_CAP = 10_000;
/** Largest RSM index (an offset skips that many rows): past it, page with after/before. */
export const MAX_INDEX = 10_000;

/** Checks every field at the edge and normalises `with`; BadInput names the first bad one. */
export function checkHistoryQuery(q: HistoryQuery, limits: ArchiveLimits): HistoryQuery {
  const ids = q.ids;
  if (ids !== undefined && (!Array.isArray(ids) || ids.length > limits.maxIds))
    throw bad(`ids: at most ${limits.maxIds}`);
  const opt = <V>(v: V | undefined, f: (v: V) => V): V | undefined => (v === undefined ? undefined : f(v));
  const out: HistoryQuery = {
    with: opt(q.with, (w) => normaliseBareJid(w)),
    start: opt(q.start, (v) => checkTime('start', v)),
    end: opt(q.end, (v) => checkTime('end', v)),
    ids: ids?.map((id, i) => checkArchiveId(`ids[${i}]`, id)),
    afterId: opt(q.afterId, (v) => checkArchiveId('afterId', v)),
    beforeId: opt(q.beforeId, (v) => checkArchiveId('beforeId', v)),
    after: opt(q.after, (v) => checkArchiveId('after', v)),
    before: opt(q.before, (v) => (v === '' ? v : checkArchiveId('before', v))),
    index: opt(q.index, (v) => checkUint('index', v, 0, MAX_INDEX)),
    max: checkUint('max', q.max, 0, limits.maxPage),
    maxBytes: opt(q.maxBytes, (v) => checkUint('maxBytes', v, 1, Number.MAX_SAFE_INTEGER)),
    count: q.count === true,
  };
  if ([out.after, out.before, out.index].filter((c) => c !== undefined).length > 1)
    throw bad('use one of after, before and index');
  return out;
}

interface Where {
  sql: string[];
  args: (string | number)[];
}

/** Seq of a visible archive id, or AppError(NotFound) (MAM item-not-found). */
function seqOf(u: UserDb, archiveId: string): number {
  const seq = u
    .st<[string], number>('SELECT seq FROM message WHERE archive_id = ? AND ak_block IS NOT NULL')
    .pluck()
    .get(archiveId);
  if (seq === undefined) throw new AppError(ErrorCode.NotFound, 'no such archive id');
  return seq;
}

/** The filter part shared by the page and the count; callers have checked every value. */
export function historyFilter(u: UserDb, q: Omit<HistoryQuery, 'max'>): Where {
  const w: Where = { sql: ['ak_block IS NOT NULL'], args: [] };
  if (q.with !== undefined) {
    w.sql.push('peer = ?');
    w.args.push(q.with);
  }
  if (q.start !== undefined) {
    w.sql.push('received_at >= ?');
    w.args.push(q.start);
  }
  if (q.end !== undefined) {
    w.sql.push('received_at <= ?');
    w.args.push(q.end);
  }
  if (q.ids !== undefined) {
    // One JSON parameter keeps the statement text (and its cache entry) the same for any count.
    w.sql.push('archive_id IN (SELECT value FROM json_each(?))');
    w.args.push(JSON.stringify(q.ids));
  }
  if (q.afterId !== undefined) {
    w.sql.push('seq > ?');
    w.args.push(seqOf(u, q.afterId));
  }
  if (q.beforeId !== undefined) {
    w.sql.push('seq < ?');
    w.args.push(seqOf(u, q.beforeId));
  }
  return w;
}

interface Row {
  seq: number;
  archive_id: string;
  received_at: number;
  direction: 'in' | 'out';
  peer: string;
  sender_device: number;
  message_id: string;
  suite: string;
  payload: Uint8Array;
  ak_id: number;
  ak_block: Uint8Array;
}

function toItem(r: Row): HistoryItem {
  return {
    archiveId: r.archive_id,
    timestamp: r.received_at,
    direction: r.direction,
    with: r.peer,
    senderDevice: r.sender_device,
    messageId: r.message_id,
    suite: r.suite,
    payload: r.payload,
    archiveBlock: { akId: r.ak_id, block: r.ak_block },
  };
}

/** Matches of `w` (and `extra`), counted up to COUNT_CAP; undefined past it. */
function countCapped(u: UserDb, w: Where, extra?: string, arg?: number): number | undefined {
  const sql = [...w.sql, ...(extra === undefined ? [] : [extra])].join(' AND ');
  const args = arg === undefined ? w.args : [...w.args, arg];
  const n = u.st<unknown[], number>(`SELECT count(*) FROM (SELECT 1 FROM message WHERE ${sql} LIMIT ?)`).pluck().get(...args, COUNT_CAP + 1) ?? 0;
  return n > COUNT_CAP ? undefined : n;
}

/**
 * The seqs of the page: up to max + 1 matches by size only (length() of a blob reads no content),
 * then the leading ones that fit `maxBytes` (at least one). `more`: matches remain past the page.
 */
function pageSeqs(u: UserDb, page: Where, q: HistoryQuery, backwards: boolean): { seqs: number[]; more: boolean } {
  const sizes = u
    .st<unknown[], { seq: number; size: number }>(
      `SELECT seq, ifnull(length(payload), 0) + length(ak_block) AS size FROM message WHERE ${page.sql.join(' AND ')}
       ORDER BY seq ${backwards ? 'DESC' : 'ASC'} LIMIT ? OFFSET ?`,
    )
    .all(...page.args, q.max + 1, q.index ?? 0);
  const budget = q.maxBytes ?? Number.POSITIVE_INFINITY;
  const seqs: number[] = [];
  let used = 0;
  for (const r of sizes.slice(0, q.max)) {
    if (seqs.length > 0 && used + r.size > budget) break;
    used += r.size;
    seqs.push(r.seq);
  }
  return { seqs, more: sizes.length > seqs.length };
}

export function queryHistory(u: UserDb, q: HistoryQuery): HistoryPage {
  return u.tx(() => {
    const w = historyFilter(u, q);
    const backwards = q.before !== undefined;
    const page: Where = { sql: [...w.sql], args: [...w.args] };
    if (q.after !== undefined) {
      page.sql.push('seq > ?');
      page.args.push(seqOf(u, q.after));
    }
    if (q.before !== undefined && q.before !== '') {
      page.sql.push('seq < ?');
      page.args.push(seqOf(u, q.before));
    }
    let items: HistoryItem[] = [];
    let firstSeq: number | undefined;
    let complete: boolean;
    if (q.max === 0) {
      complete = u.st<unknown[], number>(`SELECT 1 FROM message WHERE ${page.sql.join(' AND ')} LIMIT 1 OFFSET ?`).pluck().get(...page.args, q.index ?? 0) === undefined;
    } else {
      const { seqs, more } = pageSeqs(u, page, q, backwards);
      complete = !more;
      firstSeq = seqs.length === 0 ? undefined : Math.min(...seqs);
      // Only the rows that fit: the page never reads a payload it will not send.
      items = u
        .st<[string], Row>(
          `SELECT seq, archive_id, received_at, direction, peer, sender_device, message_id, suite, payload, ak_id, ak_block
           FROM message WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq ASC`,
        )
        .all(JSON.stringify(seqs))
        .map(toItem);
    }
    const out: HistoryPage = { items, first: items[0]?.archiveId, last: items.at(-1)?.archiveId, complete };
    if (q.count === true) {
      out.count = countCapped(u, w);
      if (firstSeq !== undefined) out.firstIndex = q.index ?? countCapped(u, w, 'seq < ?', firstSeq);
    }
    return out;
  });
}

export interface DeleteSelector {
  ids?: readonly string[] | undefined;
  with?: string | undefined;
  start?: number | undefined;
  end?: number | undefined;
  /** Required to delete every history item (no other criterion). */
  all?: boolean | undefined;
}

/**
 * Deletes the selected history items outright: payload, history copy and any copies still
 * pending for the owner's devices. Returns the number of items removed.
 */
export function deleteHistory(u: UserDb, sel: DeleteSelector): number {
  return u.tx(() => {
    const w = historyFilter(u, { ids: sel.ids, with: sel.with, start: sel.start, end: sel.end });
    return u.st<unknown[]>(`DELETE FROM message WHERE ${w.sql.join(' AND ')}`).run(...w.args).changes;
  });
}
