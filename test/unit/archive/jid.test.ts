// Bare JID normalisation used for archive owners and peers (invariant 4).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseBareJid } from '../../../src/archive/index.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';

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
