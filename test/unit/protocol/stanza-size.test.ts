// stanzaBytes (src/protocol/stanza-size.ts) measures a stanza as the vault's limit counts it, the
// UTF-8 of ltx's serialisation, without building that string: equal to Buffer.byteLength of
// toString() for any tree (escaped characters, non-ASCII and lone surrogates, empty elements,
// numbers), and for a parsed submission as the vault receives it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stanzaBytes } from '../../../src/protocol/index.js';
import { parseXml, xml, type Element } from '../../../src/xmpp/index.js';

const serialised = (el: Element): number => Buffer.byteLength(el.toString(), 'utf8');

// Text with what escaping and UTF-8 make interesting: & < > " ', multi-byte and lone surrogates.
const text = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', '&', '<', '>', '"', "'", 'é', '€', '😀', '\uD800', ' ') }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
);
const name = fc.stringMatching(/^[a-z][a-z0-9:-]{0,8}$/);
const attrs = fc.dictionary(name, fc.oneof(text, fc.integer().map(String)), { maxKeys: 4 });

const tree: fc.Arbitrary<Element> = fc.letrec<{ el: Element }>((tie) => ({
  el: fc
    .tuple(name, attrs, fc.array(fc.oneof({ depthSize: 'small' }, text, tie('el')), { maxLength: 4 }))
    .map(([n, a, children]) => xml(n, a, ...children)),
})).el;

describe('stanzaBytes', () => {
  it("equals the byte length of ltx's serialisation for any element tree", () => {
    fc.assert(fc.property(tree, (el) => stanzaBytes(el) === serialised(el)), { numRuns: 500 });
  });

  it('measures a parsed submission stanza, numbers and empty elements as ltx writes them', () => {
    const payload = Buffer.alloc(3000, 7).toString('base64');
    const stanza = parseXml(
      `<message xmlns="jabber:client" to="vault@example.org" from="al&amp;ice@example.org/r" id="x&apos;1"><request xmlns="urn:xmpp:receipts"/>` +
        `<sealed xmlns="urn:sealpost:sealed:1" suite="sp1" id="m1" size="2250"><key device="7" prekey="1">${payload.slice(0, 200)}</key>` +
        `<payload>${payload}</payload></sealed><body>a &lt; b &amp;&amp; é</body></message>`,
    );
    expect(stanzaBytes(stanza)).toBe(serialised(stanza));
    const built = xml('iq', { id: 7, type: 'get', skipped: undefined }, xml('query', {}), 42 as unknown as string);
    expect(stanzaBytes(built)).toBe(serialised(built));
  });
});
