// X-Wing (draft-connolly-cfrg-xwing-kem-10) as the archive-key suite sp1-xwing: the draft's
// Appendix C known-answer vectors through libsodium (missing or empty vector file: skip locally,
// fail under CI=true, as wycheproof.test.ts), a cross-check against @noble/post-quantum (a second,
// independent implementation; tests only), and the archive copy's seal/open properties.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ml_kem768_x25519 as nobleXWing } from '@noble/post-quantum/hybrid.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { archiveOpen, archiveSeal, xwingSealWith, XWING_BLOCK_OVERHEAD, XWING_SUITE } from '../../../src/keys/archive-suite.js';
import {
  xwingDecapsulate,
  xwingEncapsulate,
  xwingEncapsulateDeterministic,
  xwingKeyPair,
  xwingSeedKeyPair,
  XWING_CIPHERTEXT_BYTES,
  XWING_PUBLIC_BYTES,
} from '../../../src/keys/xwing.js';
import { sodium } from '../../../src/keys/sodium.js';
import { describeBackends } from './backends.js';
import './helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const FILE = join(process.env.XWING_VECTORS_DIR ?? join(ROOT, '../shared/vectors/xwing'), 'xwing_test_vectors.json');
const CI = process.env.CI === 'true';

interface Vector {
  tcId: number;
  seed: string;
  sk: string;
  pk: string;
  eseed: string;
  ct: string;
  ss: string;
}

function load(): Vector[] | string {
  if (!existsSync(FILE)) return `${FILE} is missing (set XWING_VECTORS_DIR)`;
  const text = readFileSync(FILE, 'utf8');
  if (text.trim() === '') return `${FILE} is empty`;
  const vectors = (JSON.parse(text) as { vectors?: Vector[] }).vectors ?? [];
  return vectors.length === 0 ? `${FILE} holds no test vectors` : vectors;
}

const hex = (v: string): Uint8Array => new Uint8Array(Buffer.from(v, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('X-Wing known answers (draft-connolly-cfrg-xwing-kem-10, Appendix C)', () => {
  const vectors = load();
  if (typeof vectors === 'string') {
    if (CI) it('xwing_test_vectors.json must be present under CI', () => expect.fail(vectors));
    else it.skip(`xwing_test_vectors.json: skipped, ${vectors}`, () => undefined);
    return;
  }
  it(`all ${vectors.length} vectors: keypair from seed, deterministic encapsulation, decapsulation`, () => {
    let ran = 0;
    for (const v of vectors) {
      const kp = xwingSeedKeyPair(hex(v.seed));
      expect(toHex(kp.publicKey), `tcId ${v.tcId}: pk`).toBe(v.pk);
      expect(toHex(kp.secretKey), `tcId ${v.tcId}: sk`).toBe(v.sk);
      const enc = xwingEncapsulateDeterministic(hex(v.pk), hex(v.eseed));
      expect(toHex(enc.ciphertext), `tcId ${v.tcId}: ct`).toBe(v.ct);
      expect(toHex(enc.sharedSecret), `tcId ${v.tcId}: ss from encapsulation`).toBe(v.ss);
      expect(toHex(xwingDecapsulate(hex(v.ct), hex(v.sk))), `tcId ${v.tcId}: ss from decapsulation`).toBe(v.ss);
      ran++;
    }
    expect(ran).toBe(vectors.length);
    expect(ran).toBeGreaterThanOrEqual(3);
  });
});

describe('X-Wing cross-check against @noble/post-quantum', () => {
  const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
  it('derives the same public key from the same seed', () => {
    fc.assert(
      fc.property(seed, (s) => {
        expect(toHex(xwingSeedKeyPair(s).publicKey)).toBe(toHex(nobleXWing.keygen(s).publicKey));
      }),
      { numRuns: 10 },
    );
  });

  it('decapsulates what the other encapsulated, both ways', () => {
    fc.assert(
      fc.property(seed, (s) => {
        const { publicKey } = xwingSeedKeyPair(s);
        const byNoble = nobleXWing.encapsulate(publicKey);
        expect(toHex(xwingDecapsulate(byNoble.cipherText, s))).toBe(toHex(byNoble.sharedSecret));
        const bySodium = xwingEncapsulate(publicKey);
        expect(toHex(nobleXWing.decapsulate(bySodium.ciphertext, nobleXWing.keygen(s).secretKey))).toBe(toHex(bySodium.sharedSecret));
      }),
      { numRuns: 10 },
    );
  });

  it('gives the same ciphertext and secret from the same encapsulation seed', () => {
    fc.assert(
      fc.property(seed, fc.uint8Array({ minLength: 64, maxLength: 64 }), (s, eseed) => {
        const { publicKey } = xwingSeedKeyPair(s);
        const a = xwingEncapsulateDeterministic(publicKey, eseed);
        const b = nobleXWing.encapsulate(publicKey, eseed);
        expect(toHex(a.ciphertext)).toBe(toHex(b.cipherText));
        expect(toHex(a.sharedSecret)).toBe(toHex(b.sharedSecret));
      }),
      { numRuns: 10 },
    );
  });
});

describe('the sp1-xwing archive copy', () => {
  const bob = xwingKeyPair();
  const plain = fc.uint8Array({ minLength: 1, maxLength: 600 });

  it('opens what it sealed, and adds exactly ct, nonce and tag', () => {
    fc.assert(
      fc.property(plain, (p) => {
        const box = archiveSeal(XWING_SUITE, p, bob.publicKey);
        expect(box.length).toBe(p.length + XWING_BLOCK_OVERHEAD);
        expect(toHex(archiveOpen(XWING_SUITE, box, bob.publicKey, bob.secretKey) ?? new Uint8Array(0))).toBe(toHex(p));
      }),
      { numRuns: 30 },
    );
  });

  it('refuses any single bit flipped in the KEM ciphertext, the nonce, the body or the tag', () => {
    fc.assert(
      fc.property(plain, fc.nat(), fc.integer({ min: 0, max: 7 }), (p, at, bit) => {
        const box = archiveSeal(XWING_SUITE, p, bob.publicKey);
        const i = at % box.length;
        box[i] = (box[i] as number) ^ (1 << bit);
        expect(archiveOpen(XWING_SUITE, box, bob.publicKey, bob.secretKey)).toBeUndefined();
      }),
      { numRuns: 200 },
    );
    // One flip in each region, so none of them is left to chance.
    const p = new Uint8Array(100).fill(7);
    for (const i of [0, XWING_CIPHERTEXT_BYTES - 1, XWING_CIPHERTEXT_BYTES, XWING_CIPHERTEXT_BYTES + 23, XWING_CIPHERTEXT_BYTES + 24, 100 + XWING_BLOCK_OVERHEAD - 1]) {
      const box = archiveSeal(XWING_SUITE, p, bob.publicKey);
      box[i] = (box[i] as number) ^ 1;
      expect(archiveOpen(XWING_SUITE, box, bob.publicKey, bob.secretKey), `byte ${i}`).toBeUndefined();
    }
  });

  it('refuses another key pair, a truncated box, and a copy bound to another public key', () => {
    const eve = xwingKeyPair();
    const p = new Uint8Array(64).fill(1);
    const box = archiveSeal(XWING_SUITE, p, bob.publicKey);
    expect(archiveOpen(XWING_SUITE, box, eve.publicKey, eve.secretKey)).toBeUndefined();
    expect(archiveOpen(XWING_SUITE, box, eve.publicKey, bob.secretKey)).toBeUndefined();
    expect(archiveOpen(XWING_SUITE, box.subarray(0, XWING_BLOCK_OVERHEAD - 1), bob.publicKey, bob.secretKey)).toBeUndefined();
    // The same encapsulation bound to another public key gives another copy key.
    const enc = xwingEncapsulateDeterministic(bob.publicKey, new Uint8Array(64).fill(9));
    const other = xwingSealWith(p, eve.publicKey, { ciphertext: enc.ciphertext, sharedSecret: enc.sharedSecret.slice() });
    expect(archiveOpen(XWING_SUITE, other, bob.publicKey, bob.secretKey)).toBeUndefined();
  });

  it('labels a wrong-sized public or secret key at the edge', () => {
    expect(() => archiveSeal(XWING_SUITE, new Uint8Array(1), new Uint8Array(32))).toThrow(RangeError);
    expect(() => archiveSeal(XWING_SUITE, new Uint8Array(1), new Uint8Array(XWING_PUBLIC_BYTES + 1))).toThrow(/xwing archive public key/);
    expect(() => archiveOpen(XWING_SUITE, new Uint8Array(2000), bob.publicKey, new Uint8Array(31))).toThrow(/xwing archive secret key/);
  });
});

describeBackends('X-Wing encapsulation composed on the backend', () => {
  it("gives libsodium's own X-Wing ciphertext and secret for any key and encapsulation seed", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (s, eseed) => {
        const { publicKey } = xwingSeedKeyPair(s);
        const ours = xwingEncapsulateDeterministic(publicKey, eseed);
        const theirs = sodium().crypto_kem_xwing_enc_deterministic(publicKey, eseed);
        expect(toHex(ours.ciphertext)).toBe(toHex(theirs.ciphertext));
        expect(toHex(ours.sharedSecret)).toBe(toHex(theirs.sharedSecret));
      }),
      { numRuns: 25 },
    );
  });

  it("leaves a low-order X25519 part to libsodium's X-Wing, answering as it does", () => {
    const publicKey = new Uint8Array(xwingKeyPair().publicKey);
    publicKey.fill(0, XWING_PUBLIC_BYTES - 32); // pk_X = 0: X25519 refuses it
    const eseed = new Uint8Array(64).fill(9);
    const theirs = attempt(() => sodium().crypto_kem_xwing_enc_deterministic(publicKey, eseed));
    const ours = attempt(() => xwingEncapsulateDeterministic(publicKey, eseed));
    expect(ours).toEqual(theirs);
  });
});

function attempt<T>(fn: () => T): T | string {
  try {
    return fn();
  } catch (err) {
    return (err as Error).message;
  }
}
