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
    poolRandomSource(_sodium);
    instance = _sodium;
    return _sodium;
  });
  return readyPromise;
}

/**
 * libsodium.js asks JavaScript for randomness 4 bytes at a time (one Web Crypto call each: 32 calls
 * per crypto_box_seal, half its time). This hands it the same CSPRNG's output from a 4 KiB pool
 * instead, refilled with one getRandomValues call; each word is given out once and zeroed.
 */
function poolRandomSource(s: Sodium): void {
  const module = (s as unknown as { libsodium?: { getRandomValue?: () => number } }).libsodium;
  if (typeof module?.getRandomValue !== 'function') return; // another build: keep its own source
  const pool = new Uint32Array(1024);
  let at = pool.length;
  module.getRandomValue = () => {
    if (at === pool.length) {
      globalThis.crypto.getRandomValues(pool);
      at = 0;
    }
    const v = pool[at] as number;
    pool[at++] = 0;
    return v >>> 0;
  };
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
  const nonce = randomBytes(AEAD_NONCE_BYTES);
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

/**
 * CSPRNG bytes from the platform (Web Crypto getRandomValues, the source libsodium.js itself
 * uses), in one call per 64 KiB rather than libsodium.js's one JS call per 4 bytes.
 */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`randomBytes: bad length ${n}`);
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) globalThis.crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
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

export const ED25519_PUBLIC_BYTES = 32;
export const ED25519_SECRET_BYTES = 64;
export const ED25519_SIGNATURE_BYTES = 64;
export const X25519_PUBLIC_BYTES = 32;
export const X25519_SECRET_BYTES = 32;
/** crypto_box_seal adds an ephemeral public key (32) and a Poly1305 tag (16). */
export const BOX_SEAL_OVERHEAD = 48;
export const HASH_BYTES = 32;
export const PWHASH_SALT_BYTES = 16;

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** Ed25519 key pair; the secret is libsodium's 64-byte seed ‖ public form. */
export function ed25519KeyPair(): KeyPair {
  const kp = sodium().crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  checkLength('ed25519 secret key', secretKey, ED25519_SECRET_BYTES);
  return sodium().crypto_sign_detached(message, secretKey);
}

/** False for any invalid signature, key or length; never throws on hostile input. */
export function ed25519Verify(sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (sig.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_BYTES)
    return false;
  try {
    return sodium().crypto_sign_verify_detached(sig, message, publicKey);
  } catch {
    return false;
  }
}

export function x25519KeyPair(): KeyPair {
  const kp = sodium().crypto_box_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

/** X25519 public key of a secret key (used to check a stored pair is consistent). */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  checkLength('x25519 secret key', secretKey, X25519_SECRET_BYTES);
  return sodium().crypto_scalarmult_base(secretKey);
}

/** Anonymous sealed box to an X25519 public key. */
export function boxSeal(message: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkLength('box public key', publicKey, X25519_PUBLIC_BYTES);
  return sodium().crypto_box_seal(message, publicKey);
}

/** Opens a sealed box; undefined when it does not authenticate under this key pair. */
export function boxSealOpen(
  box: Uint8Array,
  publicKey: Uint8Array,
  secretKey: Uint8Array,
): Uint8Array | undefined {
  checkLength('box public key', publicKey, X25519_PUBLIC_BYTES);
  checkLength('box secret key', secretKey, X25519_SECRET_BYTES);
  if (box.length < BOX_SEAL_OVERHEAD) return undefined;
  try {
    return sodium().crypto_box_seal_open(box, publicKey, secretKey);
  } catch {
    return undefined;
  }
}

/** A uniform integer in [0, upper). */
export function randomUniform(upper: number): number {
  return sodium().randombytes_uniform(upper);
}

export interface PwhashLimits {
  /** Argon2id passes (crypto_pwhash opslimit). */
  readonly opsLimit: number;
  /** Argon2id memory in bytes (crypto_pwhash memlimit). */
  readonly memLimit: number;
}

/** libsodium's "moderate" Argon2id limits (3 passes, 256 MiB); the key store default. */
export function pwhashModerate(): PwhashLimits {
  const s = sodium();
  return { opsLimit: s.crypto_pwhash_OPSLIMIT_MODERATE, memLimit: s.crypto_pwhash_MEMLIMIT_MODERATE };
}

/** The smallest limits libsodium allows; for tests only. */
export function pwhashMinimum(): PwhashLimits {
  const s = sodium();
  return { opsLimit: s.crypto_pwhash_OPSLIMIT_MIN, memLimit: s.crypto_pwhash_MEMLIMIT_MIN };
}

/** Argon2id13 key derivation (crypto_pwhash). */
export function argon2id(
  outLen: number,
  passphrase: Uint8Array,
  salt: Uint8Array,
  limits: PwhashLimits,
): Uint8Array {
  checkLength('pwhash salt', salt, PWHASH_SALT_BYTES);
  const s = sodium();
  return s.crypto_pwhash(
    outLen,
    passphrase,
    salt,
    limits.opsLimit,
    limits.memLimit,
    s.crypto_pwhash_ALG_ARGON2ID13,
  );
}
