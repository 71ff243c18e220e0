// MAM query parsing and the history wire shapes (issue 7): every form field, RSM element and
// flip-page maps to the archive query exactly; anything malformed is a bad-request naming what is
// wrong; XEP-0082 stamps round to the safe side; result, fin and expiry notice round-trip.
import { describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { parseMamQuery } from '../../../src/ingest/mam-query.js';
import {
  expiryNoticeStanza,
  finElement,
  formatStamp,
  mamResultStanza,
  parseExpiryNotice,
  parseFin,
  parseMamResult,
  parseStamp,
} from '../../../src/protocol/archive.js';
import { NS } from '../../../src/protocol/namespaces.js';
import { parseXml, xml, type Element } from '../../../src/xmpp/index.js';

const LIMITS = { maxPage: 1000, maxIds: 5 };
const ID1 = 'AAAAAAAAAAAAAAAAAAAAAA';
const ID2 = 'BBBBBBBBBBBBBBBBBBBBBB';

function q(fields: Record<string, string | string[]>, rsm: Element[] = [], extra: Element[] = [], attrs: Record<string, string> = {}): Element {
  const form = xml(
    'x',
    { xmlns: NS.dataForms, type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS.mam)),
    ...Object.entries(fields).map(([k, v]) => xml('field', { var: k }, ...(Array.isArray(v) ? v : [v]).map((x) => xml('value', {}, x)))),
  );
  return xml('query', { xmlns: NS.mam, queryid: 'q1', ...attrs }, form, xml('set', { xmlns: NS.rsm }, ...rsm), ...extra);
}

function refusal(el: Element): string {
  try {
    parseMamQuery(el, LIMITS);
  } catch (err) {
    expect(AppError.is(err, ErrorCode.BadInput)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('MAM query form', () => {
  it('maps every field, the RSM set and flip-page onto the archive query', () => {
    const parsed = parseMamQuery(
      q(
        { with: 'Alice@Example.ORG', start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00.5Z', 'after-id': ID1, 'before-id': ID2, ids: [ID1, ID2] },
        [xml('max', {}, '50'), xml('after', {}, ID1)],
        [xml('flip-page')],
      ),
      LIMITS,
    );
    expect(parsed).toEqual({
      queryId: 'q1',
      archive: undefined,
      flip: true,
      query: {
        with: 'alice@example.org',
        start: Date.UTC(2025, 0, 1),
        end: Date.UTC(2025, 0, 2) + 500,
        afterId: ID1,
        beforeId: ID2,
        ids: [ID1, ID2],
        after: ID1,
        max: 50,
        count: true,
      },
    });
  });

  it('defaults to a page of 100, cuts max to the archive limit, and takes <before/> empty as the last page', () => {
    const none = parseMamQuery(xml('query', { xmlns: NS.mam }), LIMITS);
    expect(none.query).toEqual({ max: 100, count: true });
    expect(none.queryId).toBeUndefined();
    expect(parseMamQuery(q({}, [xml('max', {}, '5000')]), LIMITS).query.max).toBe(1000);
    expect(parseMamQuery(q({}, [xml('before')]), LIMITS).query.before).toBe('');
    expect(parseMamQuery(q({}, [xml('index', {}, '300'), xml('max', {}, '0')]), LIMITS).query).toMatchObject({ index: 300, max: 0 });
    expect(parseMamQuery(q({}, [], [], { jid: 'Bob@example.org' }), LIMITS).archive).toBe('bob@example.org');
  });

  it.each<[string, Element, RegExp]>([
    ['an unknown field', q({ colour: 'red' }), /field "colour" is not supported/],
    ['a field twice', xml('query', { xmlns: NS.mam }, xml('x', { xmlns: NS.dataForms, type: 'submit' }, xml('field', { var: 'with' }, xml('value', {}, 'a@b')), xml('field', { var: 'with' }, xml('value', {}, 'c@d')))), /with given twice/],
    ['two values for with', q({ with: ['a@b', 'c@d'] }), /with takes at most 1 value/],
    ['too many ids', q({ ids: [ID1, ID1, ID1, ID1, ID1, ID1] }), /ids takes at most 5/],
    ['a malformed id', q({ ids: ['nope'] }), /ids\[0\].*not an archive id/],
    ['a bad start', q({ start: 'yesterday' }), /start: expected an XEP-0082 DateTime/],
    ['an impossible date', q({ end: '2025-02-30T00:00:00Z' }), /end: not a valid date/],
    ['a full JID in with', q({ with: 'a@b/phone' }), /with: expected a bare JID/],
    ['a bad JID in with', q({ with: 'a b@c' }), /invalid JID/],
    ['a wrong FORM_TYPE', xml('query', { xmlns: NS.mam }, xml('x', { xmlns: NS.dataForms, type: 'submit' }, xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'urn:other')))), /FORM_TYPE must be/],
    ['a form of type form', xml('query', { xmlns: NS.mam }, xml('x', { xmlns: NS.dataForms, type: 'form' })), /type must be submit/],
    ['a negative max', q({}, [xml('max', {}, '-1')]), /rsm max/],
    ['after and before together', q({}, [xml('after', {}, ID1), xml('before', {}, ID2)]), /one of <after\/>, <before\/> and <index\/>/],
    ['an unknown RSM element', q({}, [xml('first', {}, ID1)]), /<first\/> is not supported/],
    ['a malformed after', q({}, [xml('after', {}, '../../etc')]), /rsm after/],
    ['an unexpected child', xml('query', { xmlns: NS.mam }, xml('body')), /unexpected element <body\/>/],
    ['a pubsub node', xml('query', { xmlns: NS.mam, node: 'x' }), /no nodes/],
    ['a control character in queryid', xml('query', { xmlns: NS.mam, queryid: 'a\u0001' }), /queryid/],
  ])('refuses %s with a reason', (_what, el, reason) => {
    expect(refusal(el)).toMatch(reason);
  });
});

describe('XEP-0082 stamps', () => {
  it('parses offsets and fractions, rounding sub-millisecond parts to the safe side', () => {
    expect(parseStamp('2025-01-01T01:00:00+01:00', 's')).toBe(Date.UTC(2025, 0, 1));
    expect(parseStamp('2024-12-31T19:30:00-04:30', 's')).toBe(Date.UTC(2025, 0, 1));
    expect(parseStamp('2025-01-01T00:00:00.1234Z', 's', 'floor')).toBe(Date.UTC(2025, 0, 1) + 123);
    expect(parseStamp('2025-01-01T00:00:00.1234Z', 's', 'ceil')).toBe(Date.UTC(2025, 0, 1) + 124);
    expect(parseStamp('2025-01-01T00:00:00.1230Z', 's', 'ceil')).toBe(Date.UTC(2025, 0, 1) + 123);
    expect(parseStamp('1969-01-01T00:00:00Z', 's')).toBe(0);
    expect(parseStamp(formatStamp(1_735_689_600_123), 's')).toBe(1_735_689_600_123);
    for (const bad of ['2025-01-01', '2025-01-01T00:00:00', '2025-13-01T00:00:00Z', '2025-01-01T24:00:00Z', '2025-01-01T00:00:00+25:00'])
      expect(() => parseStamp(bad, 's')).toThrow(/s:/);
  });
});

describe('history wire shapes', () => {
  it('round-trip a result message, the fin and an expiry notice through XML text', () => {
    const sealed = xml('sealed', { xmlns: NS.sealed, id: 'm1' }, xml('payload', {}, 'AAAA'));
    const msg = parseXml(mamResultStanza('bob@x/r', 'q7', { archiveId: ID1, timestamp: 1000, from: 'alice@x', to: 'bob@x', sealed }).toString());
    const r = parseMamResult(msg);
    expect(r).toMatchObject({ queryId: 'q7', archiveId: ID1, timestamp: 1000 });
    expect(r?.sealed.attrs.id).toBe('m1');
    expect(msg.getChild('no-store', 'urn:xmpp:hints')).toBeDefined();

    const fin = parseFin(parseXml(finElement({ complete: true, first: ID1, firstIndex: 7, last: ID2, count: 9 }).toString()));
    expect(fin).toEqual({ complete: true, first: ID1, firstIndex: 7, last: ID2, count: 9 });
    expect(parseFin(parseXml(finElement({ complete: false, count: 0 }).toString()))).toEqual({
      complete: false, first: undefined, firstIndex: undefined, last: undefined, count: 0,
    });
    expect(() => parseFin(undefined)).toThrow(/without <fin\/>/);

    const notice = parseXml(expiryNoticeStanza({ sender: 'alice@x', recipient: 'bob@x', messageId: 'm9', reason: 'transit-ttl', devices: [3, 4] }).toString());
    expect(notice.attrs).toMatchObject({ to: 'alice@x', type: 'normal' });
    expect(parseExpiryNotice(notice)).toEqual({ messageId: 'm9', recipient: 'bob@x', reason: 'transit-ttl', devices: [3, 4] });
    expect(parseExpiryNotice(xml('message', {}, xml('body', {}, 'hi')))).toBeUndefined();
  });
});
