// The only module that imports libsodium: native libsodium (sodium-native's prebuilt binaries) when
// it loads, else its WebAssembly build (libsodium-wrappers-sumo), which also serves what the native
// package lacks (X-Wing). Same library, same bytes: test/unit/keys/backend-equivalence.test.ts.
// The WebAssembly build is imported only when it is needed (about 8-15 MB of memory): a process that
// runs native and never uses X-Wing (the service) asks for `wasm: 'lazy'` and never loads it.
import { createRequire } from 'node:module';
import type SodiumWasm from 'libsodium-wrappers-sumo';
import { nativeBackend, type NativeSodium } from './sodium-native.js';
import {
  checkLength,
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  BOX_SEAL_OVERHEAD,
  ED25519_PUBLIC_BYTES,
  ED25519_SECRET_BYTES,
  ED25519_SIGNATURE_BYTES,
  PWHASH_SALT_BYTES,
  X25519_PUBLIC_BYTES,
  X25519_SECRET_BYTES,
  type AeadAlg,
  type Backend,
  type KeyPair,
  type PwhashLimits,
} from './backend.js';

export * from './backend.js';

export type Sodium = typeof SodiumWasm;
/** SEALPOST_CRYPTO: `auto` = native when it loads, else WASM. */
export type CryptoChoice = 'auto' | 'native' | 'wasm';
export type BackendName = Backend['name'];

export interface InitOptions {
  /**
   * 'eager' (default): the WebAssembly build is loaded too, whatever runs, so X-Wing works at once
   * (agents, the CLI, tests). 'lazy': only when WASM is the backend, or by `loadWasm()` later (the
   * service: it never runs X-Wing, and the build costs it memory).
   */
  wasm?: 'eager' | 'lazy';
}

let readyPromise: Promise<Sodium> | undefined;
let instance: Sodium | undefined;
let wasm: Backend | undefined;
let native: Backend | undefined;
let nativeError: string | undefined;
let active: Backend | undefined;

/** Loads sodium-native once; undefined (with the reason kept) when its binary does not load here. */
function loadNative(): Backend | undefined {
  if (native !== undefined || nativeError !== undefined) return native;
  try {
    native = nativeBackend(createRequire(import.meta.url)('sodium-native') as NativeSodium);
  } catch (err) {
    nativeError = err instanceof Error ? err.message : String(err);
  }
  return native;
}

/** Imports and initialises the WebAssembly build once (X-Wing, or the backend where native does not load). */
export function loadWasm(): Promise<Sodium> {
  readyPromise ??= import('libsodium-wrappers-sumo').then(async ({ default: s }) => {
    await s.ready;
    poolRandomSource(s);
    wasm = wasmBackend(s);
    instance = s;
    return s;
  });
  return readyPromise;
}

/**
 * Selects the backend: `auto` keeps a backend already selected, else takes native when it loads;
 * `native` throws when it does not. Loads the WebAssembly build as `options.wasm` says.
 */
export async function initSodium(choice: CryptoChoice = 'auto', options: InitOptions = {}): Promise<BackendName> {
  const n = choice === 'wasm' ? undefined : loadNative();
  if (choice === 'native' && n === undefined) throw new Error(`SEALPOST_CRYPTO=native but sodium-native did not load: ${nativeError}`);
  if (n === undefined || options.wasm !== 'lazy') await loadWasm();
  if (choice === 'auto' && active !== undefined) return active.name;
  active = backendFor(choice);
  return active.name;
}

/** The backend a choice names, for tests that run both; `initSodium()` must have resolved. */
export function backendFor(choice: CryptoChoice): Backend {
  const n = choice === 'wasm' ? undefined : loadNative();
  if (n !== undefined) return n;
  if (choice === 'native') throw new Error(`SEALPOST_CRYPTO=native but sodium-native did not load: ${nativeError}`);
  if (wasm === undefined) throw new Error('libsodium not initialised: await initSodium() first');
  return wasm;
}

/** Why sodium-native did not load here, or undefined when it did (or was never tried). */
export function nativeLoadError(): string | undefined {
  loadNative();
  return nativeError;
}

/** The selected backend's name. */
export function cryptoBackend(): BackendName {
  return backend().name;
}

/** The selected backend, for the sibling modules that extend this one (secretstream, X-Wing). */
export function backend(): Backend {
  if (active === undefined) throw new Error('libsodium not initialised: await initSodium() first');
  return active;
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

/** Runs `fn`; a throw (libsodium.js's way of saying "does not authenticate") is undefined. */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function wasmBackend(s: Sodium): Backend {
  const aead = (alg: AeadAlg) =>
    alg === 'xchacha20poly1305'
      ? { enc: s.crypto_aead_xchacha20poly1305_ietf_encrypt, dec: s.crypto_aead_xchacha20poly1305_ietf_decrypt }
      : { enc: s.crypto_aead_chacha20poly1305_ietf_encrypt, dec: s.crypto_aead_chacha20poly1305_ietf_decrypt };
  const pair = (kp: { publicKey: Uint8Array; privateKey: Uint8Array }): KeyPair => ({ publicKey: kp.publicKey, secretKey: kp.privateKey });
  return {
    name: 'wasm',
    // Web Crypto getRandomValues (the source libsodium.js itself uses), one call per 64 KiB.
    randomFill: (out) => {
      for (let at = 0; at < out.length; at += 65536) globalThis.crypto.getRandomValues(out.subarray(at, Math.min(out.length, at + 65536)));
    },
    aeadEncrypt: (alg, m, aad, nonce, key) => aead(alg).enc(m, aad, null, nonce, key),
    aeadDecrypt: (alg, c, aad, nonce, key) => attempt(() => aead(alg).dec(null, c, aad, nonce, key)),
    hash: (outLen, input, key) => s.crypto_generichash(outLen, input, key ?? null),
    memzero: (buf) => s.memzero(buf),
    memcmp: (a, b) => s.memcmp(a, b),
    signKeyPair: (seed) => pair(seed === undefined ? s.crypto_sign_keypair() : s.crypto_sign_seed_keypair(seed)),
    sign: (m, sk) => s.crypto_sign_detached(m, sk),
    verify: (sig, m, pk) => attempt(() => s.crypto_sign_verify_detached(sig, m, pk)) === true,
    boxKeyPair: () => pair(s.crypto_box_keypair()),
    scalarmultBase: (sk) => s.crypto_scalarmult_base(sk),
    scalarmult: (sk, pk) => attempt(() => s.crypto_scalarmult(sk, pk)),
    boxSeal: (m, pk) => s.crypto_box_seal(m, pk),
    boxSealOpen: (c, pk, sk) => attempt(() => s.crypto_box_seal_open(c, pk, sk)),
    uniform: (upper) => s.randombytes_uniform(upper),
    pwhash: (outLen, pw, salt, l) =>
      s.crypto_pwhash(outLen, pw, salt, l.opsLimit, l.memLimit, s.crypto_pwhash_ALG_ARGON2ID13),
    streamPush: (key) => {
      const { state, header } = s.crypto_secretstream_xchacha20poly1305_init_push(key);
      const [message, final] = [s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, s.crypto_secretstream_xchacha20poly1305_TAG_FINAL];
      return { header, push: (m, last) => s.crypto_secretstream_xchacha20poly1305_push(state, m, null, last ? final : message) };
    },
    streamPull: (key, header) => {
      const state = s.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
      const final = s.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
      return (c) => {
        const r = attempt(() => s.crypto_secretstream_xchacha20poly1305_pull(state, c, null));
        return r === undefined || r === false ? undefined : { message: r.message, final: r.tag === final };
      };
    },
  };
}

/** XChaCha20-Poly1305-IETF; returns nonce ‖ ciphertext ‖ tag. */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  checkLength('key', key, AEAD_KEY_BYTES);
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const ct = backend().aeadEncrypt('xchacha20poly1305', plaintext, aad, nonce, key);
  const out = new Uint8Array(nonce.length + ct.length);
  out.set(nonce, 0);
  out.set(ct, nonce.length);
  return out;
}

/** Opens `aeadSeal` output; returns undefined when the box does not authenticate. */
export function aeadOpen(key: Uint8Array, box: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  checkLength('key', key, AEAD_KEY_BYTES);
  if (box.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES) return undefined;
  const nonce = box.subarray(0, AEAD_NONCE_BYTES);
  return backend().aeadDecrypt('xchacha20poly1305', box.subarray(AEAD_NONCE_BYTES), aad, nonce, key);
}

/** CSPRNG bytes: libsodium's randombytes_buf (native) or Web Crypto getRandomValues (WASM). */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`randomBytes: bad length ${n}`);
  const out = new Uint8Array(n);
  backend().randomFill(out);
  return out;
}

/** BLAKE2b with an optional key (keyed hash = MAC/PRF); outputs of 1..64 bytes. */
export function blake2b(outLen: number, input: Uint8Array, key?: Uint8Array): Uint8Array {
  return backend().hash(outLen, input, key);
}

/** Overwrites a secret buffer with zeros. */
export function wipe(buf: Uint8Array): void {
  backend().memzero(buf);
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && backend().memcmp(a, b);
}

/** Ed25519 key pair; the secret is libsodium's 64-byte seed ‖ public form. */
export function ed25519KeyPair(): KeyPair {
  return backend().signKeyPair();
}

/** The Ed25519 key pair of a 32-byte seed: one key every holder of the seed derives alike. */
export function ed25519KeyPairFromSeed(seed: Uint8Array): KeyPair {
  checkLength('ed25519 seed', seed, 32);
  return backend().signKeyPair(seed);
}

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  checkLength('ed25519 secret key', secretKey, ED25519_SECRET_BYTES);
  return backend().sign(message, secretKey);
}

/** False for any invalid signature, key or length; never throws on hostile input. */
export function ed25519Verify(sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (sig.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_BYTES) return false;
  return backend().verify(sig, message, publicKey);
}

export function x25519KeyPair(): KeyPair {
  return backend().boxKeyPair();
}

/** X25519 public key of a secret key (used to check a stored pair is consistent). */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  checkLength('x25519 secret key', secretKey, X25519_SECRET_BYTES);
  return backend().scalarmultBase(secretKey);
}

/** Anonymous sealed box to an X25519 public key. */
export function boxSeal(message: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkLength('box public key', publicKey, X25519_PUBLIC_BYTES);
  return backend().boxSeal(message, publicKey);
}

/** Opens a sealed box; undefined when it does not authenticate under this key pair. */
export function boxSealOpen(box: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array | undefined {
  checkLength('box public key', publicKey, X25519_PUBLIC_BYTES);
  checkLength('box secret key', secretKey, X25519_SECRET_BYTES);
  if (box.length < BOX_SEAL_OVERHEAD) return undefined;
  return backend().boxSealOpen(box, publicKey, secretKey);
}

/** A uniform integer in [0, upper). */
export function randomUniform(upper: number): number {
  return backend().uniform(upper);
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
export function argon2id(outLen: number, passphrase: Uint8Array, salt: Uint8Array, limits: PwhashLimits): Uint8Array {
  checkLength('pwhash salt', salt, PWHASH_SALT_BYTES);
  return backend().pwhash(outLen, passphrase, salt, limits);
}

// ---- WebAssembly only: what sodium-native does not expose (X-Wing) runs on this instance. ----

/** The initialised WebAssembly instance; throws unless `initSodium()` (eager) or `loadWasm()` has resolved. */
export function sodium(): Sodium {
  if (instance === undefined)
    throw new Error('the WebAssembly libsodium (X-Wing) is not loaded: await initSodium() or loadWasm() first');
  return instance;
}
