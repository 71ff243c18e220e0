// Native libsodium and its WebAssembly build must be interchangeable (issue 16): the same inputs give
// the same bytes, and whatever one seals the other opens, from raw primitives up to the whole sp1
// envelope and the encrypted key file. Under CI=true a native backend that does not load fails.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { backendFor, blake2b, cryptoBackend, initSodium, pwhashMinimum, type Backend, type BackendName } from '../../../src/keys/sodium.js';
import { BACKENDS, CI, missingBackend } from './backends.js';
import { account, agent, ctx, party, sealFor, T0 } from './helpers.js';
import { envelopeToWire, KeyRing, KeyStoreFile, MemoryTrustStore, openWire, type AgentKeyState } from './imports.js';

const missing = missingBackend('native');
const initial = cryptoBackend();
afterAll(async () => {
  await initSodium(initial);
});

const bytes = fc.uint8Array({ minLength: 0, maxLength: 4096 });
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const eq = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));
/** Every (sealer, opener) pair, the two cross pairs first. */
const PAIRS: [BackendName, BackendName][] = [['native', 'wasm'], ['wasm', 'native'], ['native', 'native'], ['wasm', 'wasm']];

if (missing !== undefined && CI) {
  it('the native backend loads under CI (both backends must be tested)', () => expect.fail(missing));
} else if (missing !== undefined) {
  it.skip(`backend equivalence: skipped, sodium-native did not load (${missing})`, () => undefined);
} else {
  const b = (name: BackendName): Backend => backendFor(name);
  const [nat, wasm] = [b('native'), b('wasm')];

  describe('backend equivalence: primitives', () => {
    it('loads both backends and names them', () => {
      expect(BACKENDS.map((n) => b(n).name)).toEqual(['native', 'wasm']);
    });

    it('crypto_box_seal: what either seals, the other opens; a flipped bit opens on neither', () => {
      fc.assert(
        fc.property(bytes, fc.nat(), (m, flip) => {
          for (const [s, o] of PAIRS) {
            const kp = b(o).boxKeyPair();
            const box = b(s).boxSeal(m, kp.publicKey);
            expect(box.length).toBe(m.length + 48);
            expect(eq(b(o).boxSealOpen(box, kp.publicKey, kp.secretKey), m), `${s} -> ${o}`).toBe(true);
            const at = flip % box.length;
            box[at] = (box[at] ?? 0) ^ 1;
            expect(nat.boxSealOpen(box, kp.publicKey, kp.secretKey)).toBeUndefined();
            expect(wasm.boxSealOpen(box, kp.publicKey, kp.secretKey)).toBeUndefined();
          }
        }),
        { numRuns: 40 },
      );
    });

    it('XChaCha20-Poly1305: identical ciphertexts for the same key and nonce; cross-open; tamper refused by both', () => {
      fc.assert(
        fc.property(bytes, bytes, key32, fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.nat(), (m, aad, k, nonce, flip) => {
          const c1 = nat.aeadEncrypt('xchacha20poly1305', m, aad, nonce, k);
          const c2 = wasm.aeadEncrypt('xchacha20poly1305', m, aad, nonce, k);
          expect(eq(c1, c2)).toBe(true);
          expect(eq(wasm.aeadDecrypt('xchacha20poly1305', c1, aad, nonce, k), m)).toBe(true);
          expect(eq(nat.aeadDecrypt('xchacha20poly1305', c2, aad, nonce, k), m)).toBe(true);
          const at = flip % c1.length;
          c1[at] = (c1[at] ?? 0) ^ 1;
          expect(nat.aeadDecrypt('xchacha20poly1305', c1, aad, nonce, k)).toBeUndefined();
          expect(wasm.aeadDecrypt('xchacha20poly1305', c1, aad, nonce, k)).toBeUndefined();
        }),
        { numRuns: 60 },
      );
    });

    it('secretstream (files): what either pushes, the other pulls, FINAL tag kept; a flipped bit or a swapped chunk fails on both', () => {
      fc.assert(
        fc.property(fc.array(bytes, { minLength: 1, maxLength: 4 }), key32, fc.nat(), (chunks, k, flip) => {
          for (const [s, o] of PAIRS) {
            const push = b(s).streamPush(k);
            const sealed = chunks.map((m, i) => push.push(m, i === chunks.length - 1));
            const pull = b(o).streamPull(k, push.header);
            sealed.forEach((c, i) => {
              const r = pull(c);
              expect(eq(r?.message, chunks[i]), `${s} -> ${o}`).toBe(true);
              expect(r?.final).toBe(i === chunks.length - 1);
            });
            const bad = Uint8Array.from(sealed[0] ?? []);
            bad[flip % bad.length] = (bad[flip % bad.length] ?? 0) ^ 1;
            expect(b(o).streamPull(k, push.header)(bad)).toBeUndefined();
            if (sealed.length > 1) expect(b(o).streamPull(k, push.header)(sealed[1] ?? new Uint8Array())).toBeUndefined();
          }
        }),
        { numRuns: 30 },
      );
    });

    it('Ed25519: equal signatures from the same key; each verifies the other; a changed message fails on both', () => {
      fc.assert(
        fc.property(bytes, fc.boolean(), (m, nativeKey) => {
          const kp = (nativeKey ? nat : wasm).signKeyPair();
          const s1 = nat.sign(m, kp.secretKey);
          const s2 = wasm.sign(m, kp.secretKey);
          expect(eq(s1, s2)).toBe(true);
          expect(nat.verify(s2, m, kp.publicKey) && wasm.verify(s1, m, kp.publicKey)).toBe(true);
          const other = new Uint8Array([...m, 0]);
          expect(nat.verify(s1, other, kp.publicKey) || wasm.verify(s1, other, kp.publicKey)).toBe(false);
        }),
        { numRuns: 60 },
      );
    });

    it('Ed25519 from a seed: the same key pair on both', () => {
      fc.assert(
        fc.property(key32, (seed) => {
          const [a, b2] = [nat.signKeyPair(seed), wasm.signKeyPair(seed)];
          expect(eq(a.publicKey, b2.publicKey) && eq(a.secretKey, b2.secretKey)).toBe(true);
        }),
        { numRuns: 30 },
      );
    });

    it('BLAKE2b: equal digests, keyed (1..64-byte keys) and unkeyed, for every output length (1..64)', () => {
      fc.assert(
        fc.property(bytes, fc.integer({ min: 1, max: 64 }), fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 })), (m, n, k) => {
          expect(eq(nat.hash(n, m, k ?? undefined), wasm.hash(n, m, k ?? undefined))).toBe(true);
        }),
        { numRuns: 200 },
      );
    });

    it('blake2b() gives short digests (under 16 bytes, which sodium-native refuses) under either backend', async () => {
      const m = new TextEncoder().encode('sealpost/v1/store-shard');
      await initSodium('native');
      const underNative = [4, 8, 15].map((n) => blake2b(n, m));
      await initSodium('wasm');
      expect(underNative).toEqual([4, 8, 15].map((n) => blake2b(n, m)));
      expect(underNative.map((d) => d.length)).toEqual([4, 8, 15]);
    });

    it('X25519: equal public keys and shared secrets; both refuse a low-order point', () => {
      fc.assert(
        fc.property(key32, key32, (sk, pk) => {
          expect(eq(nat.scalarmultBase(sk), wasm.scalarmultBase(sk))).toBe(true);
          const [x, y] = [nat.scalarmult(sk, pk), wasm.scalarmult(sk, pk)];
          expect(x === undefined ? y === undefined : eq(x, y)).toBe(true);
        }),
        { numRuns: 60 },
      );
      const zero = new Uint8Array(32);
      const sk = nat.boxKeyPair().secretKey;
      expect([nat.scalarmult(sk, zero), wasm.scalarmult(sk, zero)]).toEqual([undefined, undefined]);
    });

    it('Argon2id: equal keys from the same passphrase, salt and limits', () => {
      const salt = new Uint8Array(16).fill(7);
      const pw = new TextEncoder().encode('correct horse battery staple');
      const limits = pwhashMinimum();
      expect(eq(nat.pwhash(32, pw, salt, limits), wasm.pwhash(32, pw, salt, limits))).toBe(true);
    });

    it('memcmp agrees, memzero zeroes, randomness and uniform stay in range', () => {
      const a = nat.hash(32, new Uint8Array([1]));
      const c = new Uint8Array(a);
      c[31] = (c[31] ?? 0) ^ 1;
      for (const x of [nat, wasm]) {
        expect([x.memcmp(a, new Uint8Array(a)), x.memcmp(a, c)]).toEqual([true, false]);
        const buf = new Uint8Array(a);
        x.memzero(buf);
        expect(buf.every((v) => v === 0)).toBe(true);
        const r = new Uint8Array(64);
        x.randomFill(r);
        expect(r.some((v) => v !== 0)).toBe(true);
        for (let i = 0; i < 100; i++) expect(x.uniform(7)).toBeLessThan(7);
      }
    });
  });

  describe('backend equivalence: the sp1 envelope and the key file', () => {
    const opened = async (with_: BackendName, fn: () => Promise<void> | void): Promise<void> => {
      await initSodium(with_);
      await fn();
    };

    it.each(PAIRS)('sealed under %s, opened under %s: every device, the archive copy and the sent copy', async (s, o) => {
      const alice = agent('alice@example.org', { archive: true });
      const bobs = account('bob@example.org', 3, { opks: 1, archive: true });
      const plain = new TextEncoder().encode(`a reading sealed by ${s}`);
      await initSodium(s);
      const wire = JSON.parse(JSON.stringify(envelopeToWire(sealFor(alice, bobs, plain, { senderArchive: true })))) as unknown;
      await opened(o, async () => {
        for (const d of bobs) expect((await openWire(wire, ctx(party(d)))).plaintext).toEqual(plain);
        const hist = await openWire(wire, { as: 'archive', me: { jid: 'bob@example.org' }, prekeys: new KeyRing(bobs[0] as AgentKeyState), trust: new MemoryTrustStore(), now: () => T0 });
        expect(hist.plaintext).toEqual(plain);
        const sent = await openWire(wire, { as: 'sent', me: { jid: 'alice@example.org' }, prekeys: new KeyRing(alice), trust: new MemoryTrustStore(), now: () => T0 });
        expect(sent.plaintext).toEqual(plain);
      });
    });

    it.each(PAIRS)('a key file written under %s opens under %s (Argon2id and XChaCha20-Poly1305)', async (s, o) => {
      const dir = await mkdtemp(join(tmpdir(), 'sealpost-backends-'));
      try {
        const path = join(dir, 'keys');
        const secret = new TextEncoder().encode(`state written by ${s}`);
        await initSodium(s);
        (await KeyStoreFile.create(path, { passphrase: 'pw', limits: pwhashMinimum() }, secret)).close();
        await opened(o, async () => {
          const { file, plaintext } = await KeyStoreFile.open(path, { passphrase: 'pw' });
          expect(plaintext).toEqual(secret);
          file.close();
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
