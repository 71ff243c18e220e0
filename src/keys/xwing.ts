// X-Wing KEM (ML-KEM-768 + X25519, draft-connolly-cfrg-xwing-kem) for archive keys of suite
// sp1-xwing: WebAssembly only (sodium-native has no crypto_kem_xwing_*), on the instance that
// ./sodium.ts (the one module that loads libsodium) initialised.
import { checkLength, type KeyPair } from './backend.js';
import { randomBytes, sodium } from './sodium.js';

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

/** Encapsulates a fresh shared secret to an X-Wing public key. */
export function xwingEncapsulate(publicKey: Uint8Array): Encapsulation {
  checkLength('xwing public key', publicKey, XWING_PUBLIC_BYTES);
  return sodium().crypto_kem_xwing_enc(publicKey);
}

/** EncapsulateDerand(pk, eseed): for known-answer tests only, never with reused randomness. */
export function xwingEncapsulateDeterministic(publicKey: Uint8Array, eseed: Uint8Array): Encapsulation {
  checkLength('xwing public key', publicKey, XWING_PUBLIC_BYTES);
  checkLength('xwing encapsulation seed', eseed, XWING_ESEED_BYTES);
  return sodium().crypto_kem_xwing_enc_deterministic(publicKey, eseed);
}

/** The shared secret of a ciphertext under a seed; X-Wing decapsulation never fails on a well-sized input. */
export function xwingDecapsulate(ciphertext: Uint8Array, seed: Uint8Array): Uint8Array {
  checkLength('xwing ciphertext', ciphertext, XWING_CIPHERTEXT_BYTES);
  checkLength('xwing seed', seed, XWING_SECRET_BYTES);
  return sodium().crypto_kem_xwing_dec(ciphertext, seed);
}
