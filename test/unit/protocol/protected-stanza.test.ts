// Protected stanzas (issue 18, part 3): the element sealed is the element handed over, bounded in
// size, depth and element count on both sides, parsed without DTDs, and refused when a stanza in
// it claims another sender (or the root another recipient) than the verified envelope says.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import {
  decodeProtectedStanza,
  encodeProtectedStanza,
  PROTECTED_STANZA_LIMITS,
} from '../../../src/protocol/index.js';
import { xml, type Element } from '../../../src/xmpp/index.js';

const who = { sender: 'sensor@example.org', recipient: 'collector@example.org' };
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function readings(): Element {
  return xml(
    'message',
    { xmlns: 'jabber:client', type: 'normal' },
    xml(
      'x',
      { xmlns: 'jabber:x:data', type: 'result' },
      xml('field', { var: 'hr', type: 'text-single' }, xml('value', {}, '72')),
      xml('field', { var: 'note' }, xml('value', {}, 'a < b & "c" ✓')),
    ),
  );
}

function refusal(f: () => unknown): AppError {
  try {
    f();
  } catch (err) {
    if (AppError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('protected stanza codec', () => {
  it('hands back the element that was sealed (a XEP-0004 form of readings)', () => {
    const el = readings();
    const back = decodeProtectedStanza(encodeProtectedStanza(el, who), who);
    expect(back.toString()).toBe(el.toString());
    expect(back.getChild('x', 'jabber:x:data')?.getChildren('field')[1]?.getChildText('value')).toBe('a < b & "c" ✓');
  });

  it('round-trips any tree within bounds (property)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    const tree: fc.Arbitrary<Element> = fc.letrec<{ node: Element }>((tie) => ({
      node: fc
        .tuple(name, fc.dictionary(name, fc.string({ maxLength: 20 }), { maxKeys: 3 }), fc.array(fc.oneof({ depthSize: 'small' }, fc.string({ minLength: 1, maxLength: 20 }), tie('node')), { maxLength: 4 }))
        .map(([n, attrs, children]) => {
          delete attrs.from;
          delete attrs.to;
          return xml(n, attrs, ...children);
        }),
    })).node;
    fc.assert(
      fc.property(tree, (el) => {
        expect(decodeProtectedStanza(encodeProtectedStanza(el, who), who).toString()).toBe(el.toString());
      }),
    );
  });

  it("accepts the sender's own from (bare or full) and the recipient as to", () => {
    const el = xml('message', { from: 'Sensor@example.org/phone', to: 'collector@example.org/x' }, xml('body', {}, 'hi'));
    expect(decodeProtectedStanza(encodeProtectedStanza(el, who), who).attrs.from).toBe('Sensor@example.org/phone');
  });

  it('refuses a stanza claiming another sender: at the root, in a forwarded stanza, or an invalid one', () => {
    const forged = xml('message', { from: 'boss@example.org' }, xml('body', {}, 'pay Mallory'));
    expect(refusal(() => encodeProtectedStanza(forged, who)).code).toBe(ErrorCode.Forbidden);
    // As an attacker would: the bytes sealed by hand, the sender's own SDK bypassed.
    const attacks = [
      forged.toString(),
      "<iq type='set' from='admin@example.org'><query xmlns='jabber:iq:roster'/></iq>",
      "<x xmlns='urn:app' from='boss@example.org'/>",
      "<message><forwarded xmlns='urn:xmpp:forward:0'><message from='boss@example.org'><body>pay</body></message></forwarded></message>",
      "<message><a><b><presence from='boss@example.org/r'/></b></a></message>",
    ];
    for (const text of attacks) {
      const err = refusal(() => decodeProtectedStanza(bytes(text), who));
      expect(err.code, text).toBe(ErrorCode.Forbidden);
      expect(err.message).toMatch(/claims another sender than sensor@example\.org/);
      expect(err.permanent).toBe(true);
    }
    expect(refusal(() => decodeProtectedStanza(bytes("<message from='not a jid@'/>"), who)).code).toBe(ErrorCode.BadInput);
  });

  it('refuses a stanza addressed to someone else', () => {
    const err = refusal(() => decodeProtectedStanza(bytes("<message to='other@example.org'><body>x</body></message>"), who));
    expect(err.code).toBe(ErrorCode.Forbidden);
    expect(err.message).toMatch(/addressed to another recipient/);
  });

  it('bounds size, depth and element count on both sides', () => {
    const deep = `${'<a>'.repeat(PROTECTED_STANZA_LIMITS.maxDepth + 1)}${'</a>'.repeat(PROTECTED_STANZA_LIMITS.maxDepth + 1)}`;
    expect(refusal(() => decodeProtectedStanza(bytes(deep), who)).message).toMatch(/nested deeper than 32/);
    let nested = xml('a');
    for (let i = 0; i < PROTECTED_STANZA_LIMITS.maxDepth; i++) nested = xml('a', {}, nested);
    expect(refusal(() => encodeProtectedStanza(nested, who)).code).toBe(ErrorCode.ResourceLimit);
    const wide = `<r>${'<i/>'.repeat(PROTECTED_STANZA_LIMITS.maxElements)}</r>`;
    expect(refusal(() => decodeProtectedStanza(bytes(wide), who)).message).toMatch(/more than 4096 elements/);
    const big = xml('r', {}, 'x'.repeat(PROTECTED_STANZA_LIMITS.maxBytes));
    expect(refusal(() => encodeProtectedStanza(big, who)).code).toBe(ErrorCode.ResourceLimit);
    expect(refusal(() => decodeProtectedStanza(bytes(big.toString()), who)).code).toBe(ErrorCode.ResourceLimit);
    // a 100,000-deep tree is refused while parsing, long before it is built
    const abyss = `${'<a>'.repeat(20_000)}`;
    expect(refusal(() => decodeProtectedStanza(bytes(abyss), who)).message).toMatch(/nested deeper/);
  });

  it('refuses what is not one well-formed UTF-8 element, and expands no DTD entity', () => {
    for (const text of ['', 'hello', '<a>', '<a></b>', '<a/><b/>', '<a/>trailing', 'lead<a/>', '<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>'])
      expect(refusal(() => decodeProtectedStanza(bytes(text), who)).code, JSON.stringify(text)).toBe(ErrorCode.BadInput);
    expect(refusal(() => decodeProtectedStanza(Uint8Array.of(0x3c, 0x61, 0xff, 0x2f, 0x3e), who)).message).toMatch(/not UTF-8/);
    expect(() => encodeProtectedStanza('<a/>' as unknown as Element, who)).toThrow(TypeError);
  });
});
