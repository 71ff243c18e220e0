// Byte encodings and field rules: strict canonical base64, length-prefixed reading, JID and id
// shapes, fingerprints (src/keys encoding.ts, fields.ts, identity.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, fromBase64, toBase64 } from '../../../src/keys/encoding.js';
import { jidProblem, messageIdProblem, contentTypeProblem, idProblem } from '../../../src/keys/fields.js';
import { appError } from './helpers.js';
import {
  createDeviceIdentity,
  displayFingerprint,
  ErrorCode,
  fingerprint,
  formatFingerprint,
  newDeviceId,
  parseFingerprint,
} from './imports.js';

describe('strict base64', () => {
  it('round-trips bytes of every length 0..64', () => {
    for (let n = 0; n <= 64; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      expect(fromBase64('x', toBase64(b), 0, 64)).toEqual(b);
    }
  });

  it.each([
    ['missing padding', 'QQ'],
    ['non-canonical pad bits', 'QR=='],
    ['whitespace', 'QUJD RA=='],
    ['url-safe alphabet', '-_8='],
    ['padding in the middle', 'QQ==QUJD'],
    ['a newline', 'QUJD\n'],
    ['not a string', 42],
  ])('rejects %s', async (_name, value) => {
    const err = await appError(() => fromBase64('field', value, 0, 16));
    expect(err.code).toBe(ErrorCode.BadInput);
    expect(err.message).toMatch(/^field: /);
  });

  it('rejects a decoded length outside the bounds, naming the field', async () => {
    const err = await appError(() => fromBase64('bundle.ik', toBase64(new Uint8Array(31)), 32));
    expect(err.message).toBe('bundle.ik: expected 32 bytes, got 31');
  });

  it('rejects an over-long string before decoding it', async () => {
    const err = await appError(() => fromBase64('p', 'A'.repeat(1_000_000), 0, 16));
    expect(err.message).toMatch(/too long/);
  });

  // Reference: a string is accepted exactly when it only holds the standard alphabet with padding,
  // Node decodes it to bytes whose padded encoding is that string again, and the length fits.
  const reference = (s: string, max: number): Uint8Array | undefined => {
    if (!/^[A-Za-z0-9+/=]*$/.test(s) || s.length % 4 !== 0) return undefined;
    const b = Buffer.from(s, 'base64');
    return b.toString('base64') === s && b.length <= max ? new Uint8Array(b) : undefined;
  };
  const accepts = (s: string, max: number): Uint8Array | undefined => {
    try {
      return fromBase64('x', s, 0, max);
    } catch (err) {
      expect(err).toMatchObject({ code: ErrorCode.BadInput });
      return undefined;
    }
  };

  it('agrees with decode-and-re-encode on encodings and their one-character mutations', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n';
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(), fc.nat(alphabet.length - 1), (bytes, at, c) => {
        const good = toBase64(bytes);
        expect(accepts(good, 64)).toEqual(new Uint8Array(bytes));
        if (good.length === 0) return;
        const i = at % good.length;
        const mutated = good.slice(0, i) + alphabet.charAt(c) + good.slice(i + 1);
        expect(accepts(mutated, 64)).toEqual(reference(mutated, 64));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with decode-and-re-encode on short random strings', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9+/=]{0,12}$/), (s) => {
        expect(accepts(s, 16)).toEqual(reference(s, 16));
      }),
      { numRuns: 5000 },
    );
  });

  it('returns a copy outside the shared Buffer pool', () => {
    const out = fromBase64('x', 'QUJD', 3);
    expect(out.buffer.byteLength).toBe(3);
  });
});

describe('length-prefixed fields', () => {
  const bytes = new ByteWriter().str('label').u32(7).bytes(Uint8Array.of(1, 2, 3)).u64(2 ** 40).finish();

  it('reads back what was written', () => {
    const r = new ByteReader(bytes, 'test');
    expect(r.str('label', 0, 16)).toBe('label');
    expect(r.u32('n')).toBe(7);
    expect(r.bytes('b', 3)).toEqual(Uint8Array.of(1, 2, 3));
    expect(r.u64('t')).toBe(2 ** 40);
    r.end();
  });

  it('reads back any sequence of fields, across buffer growth', () => {
    type Field = { t: 'u8' | 'u32' | 'u64'; v: number } | { t: 'str'; v: string } | { t: 'bytes'; v: Uint8Array };
    const field = fc.oneof(
      fc.record({ t: fc.constant('u8' as const), v: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ t: fc.constant('u32' as const), v: fc.integer({ min: 0, max: 0xffffffff }) }),
      fc.record({ t: fc.constant('u64' as const), v: fc.maxSafeNat() }),
      fc.record({ t: fc.constant('str' as const), v: fc.string({ unit: 'grapheme', maxLength: 300 }) }),
      fc.record({ t: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 700 }) }),
    );
    fc.assert(
      fc.property(fc.array(field, { maxLength: 30 }), (fields: Field[]) => {
        const w = new ByteWriter(8);
        for (const f of fields) (w[f.t] as (v: unknown) => ByteWriter)(f.v);
        const r = new ByteReader(w.finish(), 'test');
        for (const f of fields) {
          if (f.t === 'str') expect(r.str('s', 0, 10_000)).toBe(f.v);
          else if (f.t === 'bytes') expect(r.bytes('b', 0, 10_000)).toEqual(f.v);
          else expect(r[f.t]('n')).toBe(f.v);
        }
        r.end();
      }),
      { numRuns: 500 },
    );
  });

  it('refuses every truncation', async () => {
    for (let n = 0; n < bytes.length; n++) {
      const r = new ByteReader(bytes.subarray(0, n), 'test');
      const err = await appError(() => {
        r.str('label', 0, 16);
        r.u32('n');
        r.bytes('b', 3);
        r.u64('t');
      });
      expect(err.code, `truncated at ${n}`).toBe(ErrorCode.BadInput);
    }
  });

  it('refuses trailing bytes', async () => {
    const r = new ByteReader(new Uint8Array([...bytes, 0]), 'test');
    r.str('label', 0, 16);
    r.u32('n');
    r.bytes('b', 3);
    r.u64('t');
    expect((await appError(() => r.end())).message).toMatch(/trailing/);
  });

  it('refuses a length prefix outside the field bounds', async () => {
    const r = new ByteReader(new ByteWriter().bytes(new Uint8Array(40)).finish(), 'test');
    expect((await appError(() => r.bytes('key', 32))).message).toBe('test: key: expected 32 bytes, got 40');
  });
});

describe('field rules', () => {
  it.each(['alice@example.org', 'a@b', 'agent-7@med.example'])('accepts the bare JID %s', (j) => {
    expect(jidProblem(j)).toBeUndefined();
  });
  it.each(['alice@example.org/phone', 'example.org', '@example.org', 'alice@', 'a b@c', 'a@b@c', 'a<x>@b', 'a@b<c', 'Alice@example.org', 'a@b.', `${'a'.repeat(1024)}@b`])(
    'refuses %s as a bare JID',
    (j) => {
      expect(jidProblem(j)).toBeDefined();
    },
  );
  it('gives the same answers once valid JIDs are remembered, past the bound of the set too', () => {
    const bad = ['Alice@example.org', 'alice@example.org/phone', 'a b@c'];
    for (let i = 0; i < 3000; i++) {
      expect(jidProblem(`agent-${i % 1500}@example.org`)).toBeUndefined();
      expect(jidProblem(bad[i % bad.length])).toBeDefined();
    }
  });
  it('bounds ids, message ids and content types', () => {
    expect(idProblem(0)).toBeDefined();
    expect(idProblem(2 ** 31)).toBeDefined();
    expect(idProblem(1.5)).toBeDefined();
    expect(idProblem(2 ** 31 - 1)).toBeUndefined();
    expect(messageIdProblem('x'.repeat(65))).toBeDefined();
    expect(messageIdProblem('a/b')).toBeDefined();
    expect(messageIdProblem('msg-1.2:3_x')).toBeUndefined();
    expect(contentTypeProblem('text/plain; charset=utf-8')).toBeUndefined();
    expect(contentTypeProblem('text/\u00e9')).toBeDefined();
  });
});

describe('identity and fingerprints', () => {
  it('draws device ids in 1..2^31-1', () => {
    for (let i = 0; i < 200; i++) {
      const d = newDeviceId();
      expect(d >= 1 && d <= 2 ** 31 - 1).toBe(true);
    }
  });

  it('shows BLAKE2b-256 of the identity key as 16 groups of 4 hex digits', () => {
    const id = createDeviceIdentity('alice@example.org');
    const shown = displayFingerprint(id.publicKey);
    expect(shown).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(shown.replace(/ /g, '')).toBe(Buffer.from(fingerprint(id.publicKey)).toString('hex'));
    expect(parseFingerprint(shown.toUpperCase())).toEqual(fingerprint(id.publicKey));
    expect(formatFingerprint(parseFingerprint(shown))).toBe(shown);
  });

  it('refuses a mistyped fingerprint', async () => {
    expect((await appError(() => parseFingerprint('1234 abcd'))).code).toBe(ErrorCode.BadInput);
  });

  it('throws TypeError and RangeError with a label on bad arguments', () => {
    expect(() => fingerprint(new Uint8Array(31))).toThrow(new RangeError('identity key: expected 32 bytes, got 31'));
    expect(() => fingerprint('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => createDeviceIdentity('alice@example.org/res')).toThrow(RangeError);
  });
});
