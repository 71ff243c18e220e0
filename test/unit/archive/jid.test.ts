// Bare JID normalisation used for archive owners and peers (invariant 4).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseBareJid } from '../../../src/archive/index.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { bareJid } from '../../../src/xmpp/index.js';

describe('normaliseBareJid', () => {
  it.each([
    ['Alice@Example.ORG', 'alice@example.org'],
    ['alice@example.org.', 'alice@example.org'],
    ['Example.org', 'example.org'],
    ['e\u0301mile@example.org', '\u00e9mile@example.org'],
  ])('normalises %j to %j', (input, out) => {
    expect(normaliseBareJid(input)).toBe(out);
  });

  it.each([
    ['a full JID', 'alice@example.org/phone'],
    ['an empty string', ''],
    ['an empty local part', '@example.org'],
    ['an empty domain', 'alice@'],
    ['two @', 'a@b@c'],
    ['whitespace', 'alice @example.org'],
    ['a control character', 'alice\u0000@example.org'],
    ['a forbidden local character', 'al"ice@example.org'],
    ['a local part over 1023 bytes', `${'a'.repeat(1024)}@example.org`],
    ['a number', 42],
  ])('refuses %s with BadInput', (_name, input) => {
    let err: unknown;
    try {
      normaliseBareJid(input);
    } catch (e) {
      err = e;
    }
    expect(AppError.is(err, ErrorCode.BadInput)).toBe(true);
  });

  it('is idempotent on every JID it accepts', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.domain(), (local, domain) => {
        let once: string;
        try {
          once = normaliseBareJid(`${local}@${domain}`);
        } catch {
          return;
        }
        expect(normaliseBareJid(once)).toBe(once);
      }),
      { numRuns: 500 },
    );
  });
});

describe('one normaliser', () => {
  const outcome = (f: () => string): string => {
    try {
      return `ok ${f()}`;
    } catch (err) {
      expect(AppError.is(err, ErrorCode.BadInput)).toBe(true);
      return 'refused';
    }
  };

  it("the archive's owners and the XMPP layer's stamped senders agree on every bare JID, and both are fixed points", () => {
    // Local parts with case pairs whose lower case is not NFC-stable, combining marks, and forbidden characters.
    const local = fc.string({ unit: fc.constantFrom('a', 'Z', '\u0130', '\u0301', 'e', '\u1E9E', 'ß', '"', ' ', '.', '\u212A', 'İ'), minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(local, fc.domain(), (l, d) => {
        const jid = `${l}@${d}`;
        const archive = outcome(() => normaliseBareJid(jid));
        expect(archive).toBe(outcome(() => bareJid(jid)));
        if (archive.startsWith('ok ')) {
          const once = archive.slice(3);
          expect(bareJid(once)).toBe(once);
          expect(normaliseBareJid(once)).toBe(once);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
