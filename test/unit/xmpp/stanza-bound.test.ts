// The stanza framer (issue 14, attack 5): whole top-level elements to the parser whatever the
// chunking, sizes in UTF-8 bytes, and an element past the bound dropped unread while the stream
// around it goes on.
import { describe, expect, it } from 'vitest';
import { oversizeAnswer, StanzaFramer, type OversizeInfo, type Piece } from '../../../src/xmpp/stanza-bound.js';

const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1'>";
const STANZAS = [
  "<message from='a@x/r' id='1'><body>caf\u00e9 &lt;b&gt; ok</body></message>",
  "<iq type='get' id='2' from='b@x/r'><query xmlns='urn:x' a=\"1>2\" b='/'/></iq>",
  "<presence from='c@x/r'/>",
  "<message id='3'><![CDATA[<not a tag> ]] ]]></message>",
  "<r xmlns='urn:xmpp:sm:3'/>",
];

/** Feeds `text` in pieces of cut(i) bytes; dropped elements go to `dropped`, the rest is returned. */
function feed(framer: StanzaFramer, text: string, cut: (i: number) => number, dropped: OversizeInfo[] = []): Piece[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Piece[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = Math.max(1, cut(i));
    for (const p of framer.push(bytes.subarray(i, i + n))) if (p.dropped === undefined) out.push(p);
    else dropped.push(p.dropped);
    i += n;
  }
  return out;
}

describe('stanza framer', () => {
  it.each([
    ['one chunk', () => 1_000_000],
    ['byte by byte', () => 1],
    ['chunks of 7', () => 7],
  ])('hands the parser each stanza whole with its UTF-8 size, and the rest unchanged (%s)', (_, cut) => {
    const dropped: OversizeInfo[] = [];
    const framer = new StanzaFramer(1000, 2);
    const text = `${HEADER}\n${STANZAS.join(' ')}</stream:stream>`;
    const pieces = feed(framer, text, cut, dropped);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    const whole = pieces.filter((p) => p.bytes !== undefined);
    expect(whole.map((p) => p.text)).toEqual([...STANZAS, '</stream:stream>']);
    expect(whole.map((p) => p.bytes)).toEqual(whole.map((p) => Buffer.byteLength(p.text)));
    expect(dropped).toEqual([]);
  });

  it('drops an element past the bound unread, reports its start tag, and goes on with the next one', () => {
    const dropped: OversizeInfo[] = [];
    const framer = new StanzaFramer(200, 2);
    const big = `<iq type='set' id='big' from='m@x/r'><q>${'A'.repeat(5000)}<i/>${'B'.repeat(5000)}</q></iq>`;
    const pieces = feed(framer, `${HEADER}${big}${STANZAS[0]}`, () => 64, dropped);
    expect(pieces.filter((p) => p.bytes !== undefined).map((p) => p.text)).toEqual([STANZAS[0]]);
    expect(pieces.some((p) => p.text.includes('AAAA'))).toBe(false);
    expect(dropped).toEqual([{ startTag: "<iq type='set' id='big' from='m@x/r'>", bytes: Buffer.byteLength(big) }]);
    const answer = oversizeAnswer(dropped[0]!, 200);
    expect(answer).toMatchObject({ stanza: true, name: 'iq' });
    expect(answer.reply?.toString()).toMatch(/<iq to="m@x\/r" type="error" id="big"><error type="modify"><policy-violation/);
  });

  it('drops an element whose start tag alone is past the bound, without an answer', () => {
    const dropped: OversizeInfo[] = [];
    const framer = new StanzaFramer(100, 2);
    const big = `<message from='m@x/r' pad='${'x'.repeat(500)}'><body>hi</body></message>`;
    const pieces = feed(framer, `${HEADER}${big}${STANZAS[2]}`, () => 10, dropped);
    expect(pieces.filter((p) => p.bytes !== undefined).map((p) => p.text)).toEqual([STANZAS[2]]);
    expect(dropped).toEqual([{ startTag: undefined, bytes: Buffer.byteLength(big) }]);
    expect(oversizeAnswer(dropped[0]!, 100)).toEqual({ stanza: false, name: undefined, reply: undefined });
  });

  it('reports a dropped element in its place among the others', () => {
    const framer = new StanzaFramer(100, 2);
    const big = `<iq type='set' id='b' from='m@x/r'>${'x'.repeat(500)}</iq>`;
    const order = framer.push(`${HEADER}<r xmlns='urn:xmpp:sm:3'/>${big}${STANZAS[2]}`).map((p) => (p.dropped ? 'dropped' : p.bytes === undefined ? 'text' : 'element'));
    expect(order).toEqual(['text', 'element', 'dropped', 'element']);
  });

  it('answers no error, result or presence', () => {
    for (const tag of ["<iq type='result' from='a@x' id='1'>", "<message type='error' from='a@x'>", "<presence from='a@x'>"])
      expect(oversizeAnswer({ startTag: tag, bytes: 1e6 }, 10).reply).toBeUndefined();
  });

  it('frames top-level elements with WebSocket framing (RFC 7395) and starts over after reset', () => {
    const framer = new StanzaFramer(1000, 1);
    const open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='x'/>";
    expect(framer.push(open + STANZAS[0]).map((p) => p.bytes !== undefined)).toEqual([true, true]);
    framer.push('<message><body>cut');
    framer.reset();
    expect(framer.push(STANZAS[2]!)).toEqual([{ text: STANZAS[2], bytes: Buffer.byteLength(STANZAS[2]!) }]);
  });
});
