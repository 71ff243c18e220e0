// The only module that imports libsodium-wrappers. It awaits `ready` once and hands out the
// initialised instance; everything else in src/ uses the typed helpers below or `sodium()`.
// Primitives: Ed25519, X25519, crypto_box_seal, XChaCha20-Poly1305-IETF, BLAKE2b (libsodium docs).
import _sodium from 'libsodium-wrappers-sumo';

export type Sodium = typeof _sodium;

let readyPromise: Promise<Sodium> | undefined;
let instance: Sodium | undefined;

/** Resolves once libsodium is initialised; call at start-up of anything that uses crypto. */
export function initSodium(): Promise<Sodium> {
  readyPromise ??= _sodium.ready.then(() => {
    instance = _sodium;
    return _sodium;
  });
  return readyPromise;
}

/** The initialised instance; throws if `initSodium()` has not resolved yet. */
export function sodium(): Sodium {
  if (instance === undefined) throw new Error('libsodium not initialised: await initSodium() first');
  return instance;
}

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;

/** XChaCha20-Poly1305-IETF; returns nonce ‖ ciphertext ‖ tag. */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const s = sodium();
  checkLength('key', key, AEAD_KEY_BYTES);
  const nonce = s.randombytes_buf(AEAD_NONCE_BYTES);
  const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key);
  const out = new Uint8Array(nonce.length + ct.length);
  out.set(nonce, 0);
  out.set(ct, nonce.length);
  return out;
}

/** Opens `aeadSeal` output; returns undefined when the box does not authenticate. */
export function aeadOpen(
  key: Uint8Array,
  box: Uint8Array,
  aad: Uint8Array,
): Uint8Array | undefined {
  const s = sodium();
  checkLength('key', key, AEAD_KEY_BYTES);
  if (box.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES) return undefined;
  try {
    return s.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      box.subarray(AEAD_NONCE_BYTES),
      aad,
      box.subarray(0, AEAD_NONCE_BYTES),
      key,
    );
  } catch {
    return undefined;
  }
}

export function randomBytes(n: number): Uint8Array {
  return sodium().randombytes_buf(n);
}

/** BLAKE2b with an optional key (keyed hash = MAC/PRF). */
export function blake2b(outLen: number, input: Uint8Array, key?: Uint8Array): Uint8Array {
  return sodium().crypto_generichash(outLen, input, key ?? null);
}

/** Overwrites a secret buffer with zeros. */
export function wipe(buf: Uint8Array): void {
  sodium().memzero(buf);
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium().memcmp(a, b);
}

/** RangeError with a label when a byte input has the wrong length (noble's convention). */
export function checkLength(label: string, value: Uint8Array, expected: number): void {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${label}: expected Uint8Array`);
  if (value.length !== expected)
    throw new RangeError(`${label}: expected ${expected} bytes, got ${value.length}`);
}
