// What a crypto backend offers (the libsodium primitives sp1 uses), their byte sizes and the
// labelled length check at byte edges: no libsodium here; sodium.ts binds native and WASM to it.
// Sizes: libsodium docs (crypto_sign, crypto_box_seal, crypto_aead_xchacha20poly1305_ietf).

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;
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

export interface PwhashLimits {
  /** Argon2id passes (crypto_pwhash opslimit). */
  readonly opsLimit: number;
  /** Argon2id memory in bytes (crypto_pwhash memlimit). */
  readonly memLimit: number;
}

/** RangeError with a label when a byte input has the wrong length (noble's convention). */
export function checkLength(label: string, value: Uint8Array, expected: number): void {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${label}: expected Uint8Array`);
  if (value.length !== expected)
    throw new RangeError(`${label}: expected ${expected} bytes, got ${value.length}`);
}

/** XChaCha20-Poly1305-IETF (sp1) or ChaCha20-Poly1305-IETF (Wycheproof only). */
export type AeadAlg = 'xchacha20poly1305' | 'chacha20poly1305';

/**
 * The primitives sp1 uses, as one libsodium build runs them. Outputs are fresh arrays; a box or
 * signature that does not authenticate is undefined/false, never a throw. Callers check lengths.
 */
export interface Backend {
  readonly name: 'native' | 'wasm';
  randomFill(out: Uint8Array): void;
  aeadEncrypt(alg: AeadAlg, m: Uint8Array, aad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  aeadDecrypt(alg: AeadAlg, c: Uint8Array, aad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined;
  /** BLAKE2b (crypto_generichash), keyed when `key` is given. */
  hash(outLen: number, input: Uint8Array, key?: Uint8Array): Uint8Array;
  memzero(buf: Uint8Array): void;
  /** Constant-time comparison of two arrays of the same length. */
  memcmp(a: Uint8Array, b: Uint8Array): boolean;
  /** A fresh key pair, or the one of a 32-byte `seed` (crypto_sign_seed_keypair). */
  signKeyPair(seed?: Uint8Array): KeyPair;
  sign(m: Uint8Array, sk: Uint8Array): Uint8Array;
  verify(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  boxKeyPair(): KeyPair;
  scalarmultBase(sk: Uint8Array): Uint8Array;
  /** X25519; undefined when libsodium refuses (an all-zero result from a low-order point). */
  scalarmult(sk: Uint8Array, pk: Uint8Array): Uint8Array | undefined;
  boxSeal(m: Uint8Array, pk: Uint8Array): Uint8Array;
  boxSealOpen(c: Uint8Array, pk: Uint8Array, sk: Uint8Array): Uint8Array | undefined;
  uniform(upper: number): number;
  /** Argon2id13 (crypto_pwhash). */
  pwhash(outLen: number, pw: Uint8Array, salt: Uint8Array, limits: PwhashLimits): Uint8Array;
  /** crypto_secretstream_xchacha20poly1305 (files, issue 17): a pushing state and its header. */
  streamPush(key: Uint8Array): { header: Uint8Array; push(m: Uint8Array, final: boolean): Uint8Array };
  /** The pulling side; a chunk that does not authenticate is undefined. */
  streamPull(key: Uint8Array, header: Uint8Array): (c: Uint8Array) => { message: Uint8Array; final: boolean } | undefined;
}

/** Bytes a secretstream chunk adds (tag byte and MAC), in both builds. */
export const STREAM_CHUNK_OVERHEAD = 17;
