// X-Wing KEM (ML-KEM-768 + X25519, draft-connolly-cfrg-xwing-kem) for archive keys of suite
// sp1-xwing: ML-KEM-768 and SHA3-256 in WebAssembly (sodium-native has neither, nor
// crypto_kem_xwing_*), on the instance that ./sodium.ts (the one module that loads libsodium)
// initialised. Encapsulation is composed as the draft's §5.4 writes it, so its two X25519
// operations run on the selected backend (native where it loads: a seal to two X-Wing archive keys
// cost 70% more in WebAssembly); the same bytes as libsodium's own (test/unit/keys/xwing.test.ts).
import { checkLength, type KeyPair } from './backend.js';
import { concatBytes } from './encoding.js';
import { backend, randomBytes, sodium, wipe } from './sodium.js';

// libsodium 1.0.22's crypto_kem_xwing_*: the secret key is the 32-byte seed (the draft's
// decapsulation key); the *Deterministic forms exist for the draft's known-answer vectors only.

export const XWING_PUBLIC_BYTES = 1216;
export const XWING_SECRET_BYTES = 32;
export const XWING_CIPHERTEXT_BYTES = 1120;
export const XWING_SHARED_BYTES = 32;
/** Encapsulation randomness of the deterministic form: ML-KEM message (32) ‖ X25519 ephemeral (32). */
export const XWING_ESEED_BYTES = 64;

export interface Encapsulation {
  readonly ciphertext: Uint8Array;
  readonly sharedSecret: Uint8Array;
}

/** A fresh X-Wing key pair; `secretKey` is its 32-byte seed. */
export function xwingKeyPair(): KeyPair {
  return xwingSeedKeyPair(randomBytes(XWING_SECRET_BYTES));
}

/** The X-Wing key pair of a seed (GenerateKeyPairDerand); also checks a stored pair. */
export function xwingSeedKeyPair(seed: Uint8Array): KeyPair {
  checkLength('xwing seed', seed, XWING_SECRET_BYTES);
  const kp = sodium().crypto_kem_xwing_seed_keypair(seed);
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

const MLKEM_PUBLIC_BYTES = 1184;
/** The draft's XWingLabel (the six characters backslash . / / ^ backslash), the last input of the combiner. */
const XWING_LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);

/**
 * EncapsulateDerand(pk, eseed) (draft §5.4): ek_X = eseed[32:64], ct_X = X25519(ek_X, base),
 * ss_X = X25519(ek_X, pk_X), (ss_M, ct_M) = ML-KEM-768.EncapsDerand(pk_M, eseed[0:32]),
 * ss = SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ XWingLabel), ct = ct_M ‖ ct_X. A pk_X that libsodium's
 * X25519 refuses (low order) goes to libsodium's own X-Wing, which decides for it.
 */
function encapsulate(publicKey: Uint8Array, eseed: Uint8Array): Encapsulation {
  const b = backend();
  const pkX = publicKey.subarray(MLKEM_PUBLIC_BYTES);
  const ekX = eseed.subarray(32, 64);
  const ssX = b.scalarmult(ekX, pkX);
  if (ssX === undefined) return sodium().crypto_kem_xwing_enc_deterministic(publicKey, eseed);
  const ctX = b.scalarmultBase(ekX);
  const m = sodium().crypto_kem_mlkem768_enc_deterministic(publicKey.subarray(0, MLKEM_PUBLIC_BYTES), eseed.subarray(0, 32));
  const input = concatBytes(m.sharedSecret, ssX, ctX, pkX, XWING_LABEL);
  try {
    return { ciphertext: concatBytes(m.ciphertext, ctX), sharedSecret: sodium().crypto_hash_sha3256(input) };
  } finally {
    wipe(input);
    wipe(ssX);
    wipe(m.sharedSecret);
  }
}

/** Encapsulates a fresh shared secret to an X-Wing public key. */
export function xwingEncapsulate(publicKey: Uint8Array): Encapsulation {
  checkLength('xwing public key', publicKey, XWING_PUBLIC_BYTES);
  const eseed = randomBytes(XWING_ESEED_BYTES);
  try {
    return encapsulate(publicKey, eseed);
  } finally {
    wipe(eseed);
  }
}

/** EncapsulateDerand(pk, eseed): for known-answer tests only, never with reused randomness. */
export function xwingEncapsulateDeterministic(publicKey: Uint8Array, eseed: Uint8Array): Encapsulation {
  checkLength('xwing public key', publicKey, XWING_PUBLIC_BYTES);
  checkLength('xwing encapsulation seed', eseed, XWING_ESEED_BYTES);
  return encapsulate(publicKey, eseed);
}

/** The shared secret of a ciphertext under a seed; X-Wing decapsulation never fails on a well-sized input. */
export function xwingDecapsulate(ciphertext: Uint8Array, seed: Uint8Array): Uint8Array {
  checkLength('xwing ciphertext', ciphertext, XWING_CIPHERTEXT_BYTES);
  checkLength('xwing seed', seed, XWING_SECRET_BYTES);
  return sodium().crypto_kem_xwing_dec(ciphertext, seed);
}
