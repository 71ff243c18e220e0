// The typed face of sodium-native (native libsodium, out-parameter style) as a crypto Backend.
// sodium.ts loads the package and hands it here; nothing else touches it. API: sodium-native 5.x,
// whose wrappers assert sizes (throws) and return false or throw when a box does not open.
import { BOX_SEAL_OVERHEAD, STREAM_CHUNK_OVERHEAD, type AeadAlg, type Backend, type KeyPair } from './backend.js';

type Bytes = Uint8Array;
type AeadEncrypt = (c: Bytes, m: Bytes, ad: Bytes | null, nsec: null, npub: Bytes, k: Bytes) => number;
type AeadDecrypt = (m: Bytes, nsec: null, c: Bytes, ad: Bytes | null, npub: Bytes, k: Bytes) => number;

/** The part of sodium-native's API the backend uses (the package ships no types). */
export interface NativeSodium {
  randombytes_buf(out: Bytes): void;
  randombytes_uniform(upper: number): number;
  sodium_memzero(buf: Bytes): void;
  sodium_memcmp(a: Bytes, b: Bytes): boolean;
  crypto_aead_xchacha20poly1305_ietf_encrypt: AeadEncrypt;
  crypto_aead_xchacha20poly1305_ietf_decrypt: AeadDecrypt;
  crypto_aead_chacha20poly1305_ietf_encrypt: AeadEncrypt;
  crypto_aead_chacha20poly1305_ietf_decrypt: AeadDecrypt;
  crypto_generichash(out: Bytes, input: Bytes, key?: Bytes): void;
  crypto_generichash_init(state: Bytes, key: Bytes | undefined, outLen: number): void;
  crypto_generichash_update(state: Bytes, input: Bytes): void;
  crypto_generichash_final(state: Bytes, out: Bytes): void;
  crypto_generichash_STATEBYTES: number;
  crypto_sign_keypair(pk: Bytes, sk: Bytes): void;
  crypto_sign_seed_keypair(pk: Bytes, sk: Bytes, seed: Bytes): void;
  crypto_sign_detached(sig: Bytes, m: Bytes, sk: Bytes): void;
  crypto_sign_verify_detached(sig: Bytes, m: Bytes, pk: Bytes): boolean;
  crypto_box_keypair(pk: Bytes, sk: Bytes): void;
  crypto_scalarmult_base(q: Bytes, n: Bytes): void;
  crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
  crypto_box_seal(c: Bytes, m: Bytes, pk: Bytes): void;
  crypto_box_seal_open(m: Bytes, c: Bytes, pk: Bytes, sk: Bytes): boolean;
  crypto_pwhash(out: Bytes, pw: Bytes, salt: Bytes, ops: number, mem: number, alg: number): void;
  crypto_pwhash_ALG_ARGON2ID13: number;
  crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
  crypto_secretstream_xchacha20poly1305_HEADERBYTES: number;
  crypto_secretstream_xchacha20poly1305_TAG_MESSAGE: number;
  crypto_secretstream_xchacha20poly1305_TAG_FINAL: number;
  crypto_secretstream_xchacha20poly1305_init_push(state: Bytes, header: Bytes, k: Bytes): void;
  crypto_secretstream_xchacha20poly1305_push(state: Bytes, c: Bytes, m: Bytes, ad: Bytes | null, tag: number): number;
  crypto_secretstream_xchacha20poly1305_init_pull(state: Bytes, header: Bytes, k: Bytes): void;
  crypto_secretstream_xchacha20poly1305_pull(state: Bytes, m: Bytes, tag: Bytes, c: Bytes, ad: Bytes | null): number;
}

const TAG = 16;

/** Runs `fill` on a fresh array of `n` bytes; undefined when it throws or returns false. */
function into(n: number, fill: (out: Bytes) => unknown): Bytes | undefined {
  if (n < 0) return undefined;
  const out = new Uint8Array(n);
  try {
    return fill(out) === false ? undefined : out;
  } catch {
    return undefined;
  }
}

/** As `into`, for calls that cannot fail on inputs the caller checked: a throw propagates. */
function make(n: number, fill: (out: Bytes) => void): Bytes {
  const out = new Uint8Array(n);
  fill(out);
  return out;
}

function keyPair(pkBytes: number, skBytes: number, gen: (pk: Bytes, sk: Bytes) => void): KeyPair {
  const pair = { publicKey: new Uint8Array(pkBytes), secretKey: new Uint8Array(skBytes) };
  gen(pair.publicKey, pair.secretKey);
  return pair;
}

export function nativeBackend(n: NativeSodium): Backend {
  const aead = (alg: AeadAlg) =>
    alg === 'xchacha20poly1305'
      ? { enc: n.crypto_aead_xchacha20poly1305_ietf_encrypt, dec: n.crypto_aead_xchacha20poly1305_ietf_decrypt }
      : { enc: n.crypto_aead_chacha20poly1305_ietf_encrypt, dec: n.crypto_aead_chacha20poly1305_ietf_decrypt };
  return {
    name: 'native',
    randomFill: (out) => n.randombytes_buf(out),
    aeadEncrypt: (alg, m, aad, nonce, key) => make(m.length + TAG, (c) => aead(alg).enc(c, m, aad, null, nonce, key)),
    aeadDecrypt: (alg, c, aad, nonce, key) => into(c.length - TAG, (m) => aead(alg).dec(m, null, c, aad, nonce, key)),
    // sodium-native's one-shot call refuses outputs and keys under 16 bytes, which libsodium itself
    // (and the WASM build) computes: those go through init/update/final.
    hash: (outLen, input, key) =>
      make(outLen, (out) => {
        if (outLen >= 16 && (key === undefined || key.length >= 16)) return n.crypto_generichash(out, input, key);
        const state = new Uint8Array(n.crypto_generichash_STATEBYTES);
        n.crypto_generichash_init(state, key, outLen);
        n.crypto_generichash_update(state, input);
        n.crypto_generichash_final(state, out);
      }),
    memzero: (buf) => n.sodium_memzero(buf),
    memcmp: (a, b) => n.sodium_memcmp(a, b),
    signKeyPair: (seed) => keyPair(32, 64, (pk, sk) => (seed === undefined ? n.crypto_sign_keypair(pk, sk) : n.crypto_sign_seed_keypair(pk, sk, seed))),
    sign: (m, sk) => make(64, (sig) => n.crypto_sign_detached(sig, m, sk)),
    verify: (sig, m, pk) => {
      try {
        return n.crypto_sign_verify_detached(sig, m, pk);
      } catch {
        return false;
      }
    },
    boxKeyPair: () => keyPair(32, 32, (pk, sk) => n.crypto_box_keypair(pk, sk)),
    scalarmultBase: (sk) => make(32, (q) => n.crypto_scalarmult_base(q, sk)),
    scalarmult: (sk, pk) => into(32, (q) => n.crypto_scalarmult(q, sk, pk)),
    boxSeal: (m, pk) => make(m.length + BOX_SEAL_OVERHEAD, (c) => n.crypto_box_seal(c, m, pk)),
    boxSealOpen: (c, pk, sk) => into(c.length - BOX_SEAL_OVERHEAD, (m) => n.crypto_box_seal_open(m, c, pk, sk)),
    uniform: (upper) => n.randombytes_uniform(upper),
    pwhash: (outLen, pw, salt, l) =>
      make(outLen, (out) => n.crypto_pwhash(out, pw, salt, l.opsLimit, l.memLimit, n.crypto_pwhash_ALG_ARGON2ID13)),
    streamPush: (key) => {
      const state = new Uint8Array(n.crypto_secretstream_xchacha20poly1305_STATEBYTES);
      const header = make(n.crypto_secretstream_xchacha20poly1305_HEADERBYTES, (h) => n.crypto_secretstream_xchacha20poly1305_init_push(state, h, key));
      const [message, final] = [n.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, n.crypto_secretstream_xchacha20poly1305_TAG_FINAL];
      return {
        header,
        push: (m, last) => make(m.length + STREAM_CHUNK_OVERHEAD, (c) => n.crypto_secretstream_xchacha20poly1305_push(state, c, m, null, last ? final : message)),
      };
    },
    streamPull: (key, header) => {
      const state = new Uint8Array(n.crypto_secretstream_xchacha20poly1305_STATEBYTES);
      n.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key);
      const final = n.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
      const tag = new Uint8Array(1);
      return (c) => {
        const m = into(c.length - STREAM_CHUNK_OVERHEAD, (out) => n.crypto_secretstream_xchacha20poly1305_pull(state, out, tag, c, null));
        return m === undefined ? undefined : { message: m, final: tag[0] === final };
      };
    },
  };
}
