// The archive-key suites (design.md "Algorithm agility"; issue 18 part 1). "sp1": an X25519 key,
// copies are crypto_box_seal. "sp1-xwing": an X-Wing key (draft-connolly-cfrg-xwing-kem-10), a
// copy is ct ‖ XChaCha20-Poly1305(k, nonce, K ‖ sig ‖ header) with k bound to ct, pk and a label,
// so a harvested archive does not fall to a quantum computer. The suite is signed with the key.
import { AppError, ErrorCode } from '../errors/index.js';
import { ByteWriter } from './encoding.js';
import { SUITE } from './labels.js';
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  aeadOpen,
  aeadSeal,
  blake2b,
  BOX_SEAL_OVERHEAD,
  boxSeal,
  boxSealOpen,
  checkLength,
  constantTimeEqual,
  wipe,
  X25519_PUBLIC_BYTES,
  X25519_SECRET_BYTES,
  x25519KeyPair,
  x25519PublicKey,
  type KeyPair,
} from './sodium.js';
import {
  XWING_CIPHERTEXT_BYTES,
  xwingDecapsulate,
  xwingEncapsulate,
  xwingKeyPair,
  XWING_PUBLIC_BYTES,
  XWING_SECRET_BYTES,
  xwingSeedKeyPair,
  type Encapsulation,
} from './xwing.js';

export const XWING_SUITE = 'sp1-xwing';
export type ArchiveSuite = typeof SUITE | typeof XWING_SUITE;
export const ARCHIVE_SUITES: readonly ArchiveSuite[] = Object.freeze([SUITE, XWING_SUITE]);
/** What new archive keys use unless told otherwise. */
export const DEFAULT_ARCHIVE_SUITE: ArchiveSuite = XWING_SUITE;

const XWING_KEY_LABEL = 'sealpost/v1/ak-xwing-key';
/** Bytes an X-Wing copy adds to its plaintext: KEM ciphertext, AEAD nonce and tag. */
export const XWING_BLOCK_OVERHEAD = XWING_CIPHERTEXT_BYTES + AEAD_NONCE_BYTES + AEAD_TAG_BYTES;
/** How much larger an X-Wing archive block is than a sealed-box block of the same message. */
export const XWING_EXTRA_BYTES = XWING_BLOCK_OVERHEAD - BOX_SEAL_OVERHEAD;

interface SuiteParams {
  readonly publicBytes: number;
  readonly secretBytes: number;
  readonly overhead: number;
}

const PARAMS: Readonly<Record<ArchiveSuite, SuiteParams>> = Object.freeze({
  [SUITE]: { publicBytes: X25519_PUBLIC_BYTES, secretBytes: X25519_SECRET_BYTES, overhead: BOX_SEAL_OVERHEAD },
  [XWING_SUITE]: { publicBytes: XWING_PUBLIC_BYTES, secretBytes: XWING_SECRET_BYTES, overhead: XWING_BLOCK_OVERHEAD },
});

/** Refuses anything but a known archive suite with ErrorCode.UnknownSuite; absent means sp1. */
export function checkArchiveSuite(value: unknown, where: string): ArchiveSuite {
  if (value === undefined || value === SUITE) return SUITE;
  if (value === XWING_SUITE) return XWING_SUITE;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 32)) : typeof value;
  throw new AppError(ErrorCode.UnknownSuite, `${where}: unknown archive key suite ${shown}; this build supports "${SUITE}" and "${XWING_SUITE}"`);
}

export function archiveParams(suite: ArchiveSuite = SUITE): SuiteParams {
  return PARAMS[suite];
}

/** A fresh archive key pair of a suite (X-Wing: the secret is the 32-byte seed). */
export function archiveKeyPair(suite: ArchiveSuite): KeyPair {
  return suite === XWING_SUITE ? xwingKeyPair() : x25519KeyPair();
}

/** True when `publicKey` is the public key of `secretKey` in `suite` (stored and imported keys). */
export function archivePairMatches(suite: ArchiveSuite, publicKey: Uint8Array, secretKey: Uint8Array): boolean {
  const p = PARAMS[suite];
  if (publicKey.length !== p.publicBytes || secretKey.length !== p.secretBytes) return false;
  const derived = suite === XWING_SUITE ? xwingSeedKeyPair(secretKey).publicKey : x25519PublicKey(secretKey);
  return constantTimeEqual(derived, publicKey);
}

/** The AEAD key of an X-Wing copy: BLAKE2b-256 keyed by the shared secret over label ‖ ct ‖ pk. */
function copyKey(sharedSecret: Uint8Array, ciphertext: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const input = new ByteWriter().str(XWING_KEY_LABEL).str(XWING_SUITE).bytes(ciphertext).bytes(publicKey).finish();
  return blake2b(AEAD_KEY_BYTES, input, sharedSecret);
}

/** X-Wing copy from a given encapsulation (tests pass a deterministic one). */
export function xwingSealWith(plain: Uint8Array, publicKey: Uint8Array, enc: Encapsulation): Uint8Array {
  const key = copyKey(enc.sharedSecret, enc.ciphertext, publicKey);
  try {
    const box = aeadSeal(key, plain, new Uint8Array(0));
    const out = new Uint8Array(enc.ciphertext.length + box.length);
    out.set(enc.ciphertext, 0);
    out.set(box, enc.ciphertext.length);
    return out;
  } finally {
    wipe(key);
    wipe(enc.sharedSecret);
  }
}

/** Seals a key-block plaintext to an archive key of `suite`. */
export function archiveSeal(suite: ArchiveSuite, plain: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (suite === SUITE) return boxSeal(plain, publicKey);
  checkLength('xwing archive public key', publicKey, XWING_PUBLIC_BYTES);
  return xwingSealWith(plain, publicKey, xwingEncapsulate(publicKey));
}

/** Opens an archive copy; undefined when it does not authenticate under this key pair. */
export function archiveOpen(suite: ArchiveSuite, box: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array | undefined {
  if (suite === SUITE) return boxSealOpen(box, publicKey, secretKey);
  checkLength('xwing archive public key', publicKey, XWING_PUBLIC_BYTES);
  checkLength('xwing archive secret key', secretKey, XWING_SECRET_BYTES);
  if (box.length < XWING_BLOCK_OVERHEAD) return undefined;
  const ct = box.subarray(0, XWING_CIPHERTEXT_BYTES);
  const ss = xwingDecapsulate(ct, secretKey);
  const key = copyKey(ss, ct, publicKey);
  try {
    return aeadOpen(key, box.subarray(XWING_CIPHERTEXT_BYTES), new Uint8Array(0));
  } finally {
    wipe(key);
    wipe(ss);
  }
}

/**
 * The suite of a stored, already verified archive public key, from its length (the sizes differ):
 * for stores that keep only (id, pub, sig). Never for unchecked input: parse its suite instead.
 */
export function archiveSuiteOfStoredKey(publicKey: Uint8Array): ArchiveSuite {
  return publicKey.length === XWING_PUBLIC_BYTES ? XWING_SUITE : SUITE;
}
