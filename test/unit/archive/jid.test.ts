// Bare JID normalisation for archive owners and peers (invariant 4), checked against answers
// written out here by hand rather than computed by the code under test: RFC 7622 §3.5's examples,
// stringprep nodeprep cases (RFC 3454 B.1, B.2 and NFKC, as RFC 3920 App. A and the XMPP server
// apply them) with the server's answer or, where ours could differ from it, a refusal; and
// properties that follow from the RFCs (ASCII folds to lower case, forbidden characters refused,
// output in normal form and stable). The comparison with Prosody's own nodeprep over many code
// points is test/attacks/jid-normalisation.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseBareJid } from '../../../src/archive/index.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { bareJid } from '../../../src/xmpp/index.js';

function refusal(f: () => unknown): AppError | undefined {
  try {
    f();
  } catch (err) {
    if (AppError.is(err, ErrorCode.BadInput)) return err;
    throw err;
  }
  return undefined;
}

// [input, the bare JID the server's preparation gives]
const ACCEPTED: [string, string, string][] = [
  // RFC 7622 §3.5, valid examples (bare forms)
  ['RFC 7622 §3.5', 'juliet@example.com', 'juliet@example.com'],
  ['RFC 7622 §3.5 (XEP-0106 escape kept as is)', 'foo\\20bar@example.com', 'foo\\20bar@example.com'],
  ['RFC 7622 §3.5', 'fussball@example.com', 'fussball@example.com'],
  ['RFC 7622 §3.5', '\u03c0@example.com', '\u03c0@example.com'],
  ['RFC 7622 §3.5 (capital sigma folds to small)', '\u03a3@example.com', '\u03c3@example.com'],
  ['RFC 7622 §3.5', '\u03c3@example.com', '\u03c3@example.com'],
  ['RFC 7622 §3.5, domain only', 'example.com', 'example.com'],
  // Where PRECIS (RFC 7622) keeps a letter and nodeprep (the server) folds it, the server wins.
  ['nodeprep B.2: ß to ss (PRECIS would keep fußball)', 'fu\u00dfball@example.com', 'fussball@example.com'],
  ['nodeprep B.2: final sigma to sigma (PRECIS would keep it)', '\u03c2@example.com', '\u03c3@example.com'],
  ['nodeprep B.2: dotted capital I to i + combining dot above', '\u0130stanbul@example.org', 'i\u0307stanbul@example.org'],
  ['ASCII case folding', 'ALICE@EXAMPLE.ORG', 'alice@example.org'],
  ['ASCII case folding with B.2 ß', 'STRA\u00dfE@example.org', 'strasse@example.org'],
  ['Latin-1 capitals', '\u00dcN\u00cfC\u00d6D\u00c9@example.org', '\u00fcn\u00efc\u00f6d\u00e9@example.org'],
  ['Greek capitals', '\u0391\u0392\u0393@example.org', '\u03b1\u03b2\u03b3@example.org'],
  ['Latin Extended-A capital', '\u0141od\u017a@example.org', '\u0142od\u017a@example.org'],
  ['decomposed letters compose (NFKC)', 'u\u0308ber@example.org', '\u00fcber@example.org'],
  ['decomposed e + acute', 'e\u0301mile@example.org', '\u00e9mile@example.org'],
  ['RFC 7622 §3.2: one trailing dot of the domain dropped', 'alice@example.org.', 'alice@example.org'],
  ['domain case', 'Example.ORG', 'example.org'],
  ['allowed ASCII punctuation', "a.b_c-d+e!f#g$h%i*j=k?l^m{n}o|p~q@example.org", "a.b_c-d+e!f#g$h%i*j=k?l^m{n}o|p~q@example.org"],
];

// [why, input]: refused (BadInput), never stored under another spelling than the server's.
const REFUSED: [string, unknown][] = [
  ['RFC 7622 §3.5: quotes in the localpart', '"juliet"@example.com'],
  ['RFC 7622 §3.5: space in the localpart', 'foo bar@example.com'],
  ['RFC 7622 §3.5: empty localpart', '@example.com'],
  ['RFC 7622 §3.5: empty domainpart', 'juliet@'],
  ['RFC 7622 §3.5: roman numeral four (compatibility; nodeprep makes it "iv")', 'henri\u2163@example.com'],
  ['a full JID where a bare one is wanted', 'juliet@example.com/foo'],
  ['RFC 7622 §3.3.1: ampersand', 'a&b@example.org'],
  ["RFC 7622 §3.3.1: apostrophe", "o'hara@example.org"],
  ['RFC 7622 §3.3.1: colon', 'a:b@example.org'],
  ['RFC 7622 §3.3.1: less-than', 'a<b@example.org'],
  ['RFC 7622 §3.3.1: greater-than', 'a>b@example.org'],
  ['two @', 'a@b@example.org'],
  ['fullwidth letters (NFKC makes them "full")', '\uff46\uff55\uff4c\uff4c@example.org'],
  ['Kelvin sign (canonically K)', '\u212aelvin@example.org'],
  ['B.1 soft hyphen (nodeprep drops it: al-ice and alice would meet)', 'al\u00adice@example.org'],
  ['B.1 zero-width space', 'a\u200bb@example.org'],
  ['C.1.2 ideographic space', 'a\u3000b@example.org'],
  ['C.3 private use', 'a\ue000b@example.org'],
  ['C.2.1 control', 'alice\u0000@example.org'],
  ['Cherokee capitals (no lower case in Unicode 3.2; today they fold)', '\u13e3\u13b3\u13a9@example.org'],
  ['RFC 3454 §6: right-to-left mixed with left-to-right', 'abc\u05d0@example.org'],
  ['RFC 7622 §3.3: a localpart over 1023 bytes', `${'a'.repeat(1024)}@example.org`],
  ['RFC 7622 §3.3: 512 two-byte letters (1024 bytes)', `${'\u00e9'.repeat(512)}@example.org`],
  ['an empty string', ''],
  ['not a string', 42],
];

describe('normaliseBareJid against written-out answers', () => {
  it.each(ACCEPTED)('%s: %j is %j', (_source, input, expected) => {
    expect(normaliseBareJid(input)).toBe(expected);
    expect(bareJid(input), "the XMPP layer's stamped sender").toBe(expected);
  });

  it.each(REFUSED)('refuses %s', (_why, input) => {
    expect(refusal(() => normaliseBareJid(input)), JSON.stringify(input)).toBeInstanceOf(AppError);
  });

  it('accepts a localpart of exactly 1023 bytes', () => {
    expect(normaliseBareJid(`${'A'.repeat(1023)}@example.org`)).toBe(`${'a'.repeat(1023)}@example.org`);
  });
});

describe('normaliseBareJid properties', () => {
  // Characters RFC 7622 §3.3.1 allows in a localpart, ASCII only: nodeprep maps them by lower-casing.
  const asciiLocal = fc.string({
    unit: fc.constantFrom(...'abcxyzABCXYZ0189.-_+!#$%*=?^{}|~'.split('')),
    minLength: 1,
    maxLength: 40,
  });
  const label = fc.string({ unit: fc.constantFrom(...'abzAZ09'.split('')), minLength: 1, maxLength: 12 });
  const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));

  it('folds an ASCII JID to lower case and changes nothing else', () => {
    fc.assert(
      fc.property(asciiLocal, domain, (l, d) => {
        expect(normaliseBareJid(`${l}@${d}`)).toBe(`${l.toLowerCase()}@${d.toLowerCase()}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses a localpart holding any character RFC 7622 §3.3.1 forbids', () => {
    const forbidden = fc.constantFrom('"', '&', "'", '/', ':', '<', '>', '@', ' ', '\t', '\n');
    fc.assert(
      fc.property(asciiLocal, forbidden, asciiLocal, domain, (a, f, b, d) => {
        expect(refusal(() => normaliseBareJid(`${a}${f}${b}@${d}`))).toBeInstanceOf(AppError);
      }),
      { numRuns: 500 },
    );
  });

  it('gives an output that is NFC, has no upper case, is its own normal form, and names the same account under any ASCII case', () => {
    const unit = fc.constantFrom('a', 'Z', '\u00c9', '\u00e9', 'e', '\u0301', '\u00df', '\u03a3', '\u03c2', '\u0130', '\u212a', '\u1e9e', '.', '"');
    fc.assert(
      fc.property(fc.string({ unit, minLength: 1, maxLength: 10 }), domain, (l, d) => {
        const input = `${l}@${d}`;
        const first = refusal(() => normaliseBareJid(input)) === undefined ? normaliseBareJid(input) : undefined;
        if (first === undefined) return;
        expect(first.normalize('NFC')).toBe(first);
        expect(first).not.toMatch(/[A-Z\u00c0-\u00de\u0391-\u03ab]/u);
        expect(first.split('@')).toHaveLength(2);
        expect(normaliseBareJid(first)).toBe(first);
        expect(normaliseBareJid(input.toUpperCase().replace(/@.*/, `@${d}`))).toBe(first);
      }),
      { numRuns: 2000 },
    );
  });
});
