// Parsing of an XEP-0313 (MAM v2) query: the XEP-0004 data form (with, start, end, before-id,
// after-id, ids — XEP-0313 §4.1 and the "extended" fields), XEP-0059 RSM (max, after, before,
// index) and <flip-page/>. Every value is bounded and checked before the archive sees it
// (design.md invariant 5); a bad form is AppError(BadInput) with a reason (XMPP bad-request).
import { AppError, ErrorCode } from '../errors/index.js';
import { MAX_INDEX, type HistoryQuery } from '../archive/index.js';
import { NS, parseStamp } from '../protocol/index.js';
import { parseJid, type Element } from '../xmpp/index.js';

export interface MamLimits {
  /** Largest page the archive returns; a bigger RSM max is cut to it (XEP-0059 §2.1 allows fewer). */
  maxPage: number;
  /** Most ids in one `ids` field. */
  maxIds: number;
  /** Page size when the query has no RSM max. */
  defaultPage?: number;
}

export interface MamQuery {
  queryId: string | undefined;
  /** The archive the query names (sealpost's `jid` attribute); only the owner's is answered. */
  archive: string | undefined;
  query: HistoryQuery;
  /** XEP-0313 flip-page: the page's items in reverse order. */
  flip: boolean;
}

/** The fields a query form may carry (the form offered by a type='get' query lists them). */
export const MAM_FIELDS = ['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids'] as const;

const ARCHIVE_ID = /^[A-Za-z0-9_-]{22}$/;
const QUERY_ID = /^[\x21-\x7e]{1,64}$/;
const UINT = /^(0|[1-9][0-9]{0,9})$/;
const MAX_FIELD_CHARS = 3072;

function bad(text: string): never {
  throw new AppError(ErrorCode.BadInput, text);
}

function archiveId(label: string, v: string): string {
  if (!ARCHIVE_ID.test(v)) bad(`${label}: ${JSON.stringify(v.slice(0, 40))} is not an archive id`);
  return v;
}

function uint(label: string, v: string, max: number): number {
  if (!UINT.test(v) || Number(v) > max) bad(`${label}: expected an integer 0..${max}`);
  return Number(v);
}

function bareOnly(label: string, v: string): string {
  const jid = parseJid(v);
  if (jid.resource !== undefined) bad(`${label}: expected a bare JID (the archive keeps no resources)`);
  return jid.bare;
}

/** The form's fields as var → values, refusing unknown, repeated and oversized fields. */
function formFields(x: Element, limits: MamLimits): Map<string, string[]> {
  const type: unknown = x.attrs.type;
  if (type !== undefined && type !== 'submit') bad(`form: type must be submit, not ${typeof type === 'string' ? type : 'missing'}`);
  const out = new Map<string, string[]>();
  const fields = x.getChildren('field');
  if (fields.length > MAM_FIELDS.length) bad(`form: at most ${MAM_FIELDS.length} fields`);
  for (const f of fields) {
    const name: unknown = f.attrs.var;
    if (typeof name !== 'string' || !(MAM_FIELDS as readonly string[]).includes(name))
      bad(`form: field ${JSON.stringify(String(name).slice(0, 40))} is not supported (supported: ${MAM_FIELDS.join(', ')})`);
    if (out.has(name)) bad(`form: field ${name} given twice`);
    const values = f.getChildren('value');
    const max = name === 'ids' ? limits.maxIds : 1;
    if (values.length > max) bad(`form: field ${name} takes at most ${max} value${max === 1 ? '' : 's'}`);
    const texts = values.map((v) => v.text().trim());
    if (texts.some((t) => t.length > MAX_FIELD_CHARS)) bad(`form: a value of ${name} is too long`);
    out.set(name, texts.filter((t) => t !== ''));
  }
  const formType = out.get('FORM_TYPE');
  if (formType !== undefined && formType[0] !== NS.mam) bad(`form: FORM_TYPE must be ${NS.mam}`);
  return out;
}

function rsm(set: Element | undefined, limits: MamLimits): Pick<HistoryQuery, 'after' | 'before' | 'index' | 'max'> {
  const defaultPage = Math.min(limits.defaultPage ?? 100, limits.maxPage);
  if (set === undefined) return { max: defaultPage };
  const out: Pick<HistoryQuery, 'after' | 'before' | 'index' | 'max'> = { max: defaultPage };
  const seen = new Set<string>();
  for (const c of set.getChildElements()) {
    if (seen.has(c.name)) bad(`rsm: <${c.name}/> given twice`);
    seen.add(c.name);
    const t = c.text().trim();
    if (c.name === 'max') out.max = Math.min(uint('rsm max', t, 1_000_000_000), limits.maxPage);
    else if (c.name === 'after') out.after = archiveId('rsm after', t);
    else if (c.name === 'before') out.before = t === '' ? '' : archiveId('rsm before', t);
    else if (c.name === 'index') {
      out.index = uint('rsm index', t, 1_000_000_000);
      if (out.index > MAX_INDEX) bad(`rsm index: at most ${MAX_INDEX}; page on with <after/> or <before/>`);
    }
    else bad(`rsm: <${c.name}/> is not supported in a request`);
  }
  if ([out.after, out.before, out.index].filter((v) => v !== undefined).length > 1)
    bad('rsm: use one of <after/>, <before/> and <index/>');
  return out;
}

/** Parses a `<query xmlns='urn:xmpp:mam:2'/>` into a checked archive query. */
export function parseMamQuery(el: Element, limits: MamLimits): MamQuery {
  if (el.name !== 'query' || el.getNS() !== NS.mam) bad(`expected <query xmlns='${NS.mam}'/>`);
  const qid: unknown = el.attrs.queryid;
  if (qid !== undefined && (typeof qid !== 'string' || !QUERY_ID.test(qid))) bad('queryid: 1..64 printable characters');
  const named: unknown = el.attrs.jid;
  if (named !== undefined && typeof named !== 'string') bad('jid: expected a JID');
  if (el.attrs.node !== undefined) bad('node: this archive has no nodes');
  const children = el.getChildElements();
  if (children.length > 3) bad('query: at most a form, an RSM set and <flip-page/>');
  for (const c of children)
    if (!(c.name === 'x' && c.getNS() === NS.dataForms) && !(c.name === 'set' && c.getNS() === NS.rsm) && c.name !== 'flip-page')
      bad(`query: unexpected element <${c.name}/>`);

  const x = el.getChild('x', NS.dataForms);
  const fields = x === undefined ? new Map<string, string[]>() : formFields(x, limits);
  const one = (name: string): string | undefined => fields.get(name)?.[0];
  const query: HistoryQuery = { ...rsm(el.getChild('set', NS.rsm), limits), count: true };
  const w = one('with');
  if (w !== undefined) query.with = bareOnly('with', w);
  const start = one('start');
  if (start !== undefined) query.start = parseStamp(start, 'start', 'ceil');
  const end = one('end');
  if (end !== undefined) query.end = parseStamp(end, 'end', 'floor');
  const afterId = one('after-id');
  if (afterId !== undefined) query.afterId = archiveId('after-id', afterId);
  const beforeId = one('before-id');
  if (beforeId !== undefined) query.beforeId = archiveId('before-id', beforeId);
  const ids = fields.get('ids');
  if (ids !== undefined) {
    if (ids.length === 0) bad('ids: at least one archive id');
    query.ids = ids.map((id, i) => archiveId(`ids[${i}]`, id));
  }
  return {
    queryId: typeof qid === 'string' ? qid : undefined,
    archive: typeof named === 'string' ? parseJid(named).bare : undefined,
    query,
    flip: el.getChild('flip-page') !== undefined,
  };
}
