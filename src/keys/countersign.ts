// The directory's countersignature (design.md, "Server key"): the server's Ed25519 key signs
// (jid, device, IK fingerprint, first seen) at publication, so an agent can show what the server
// vouched for and when. Label-first, length-prefixed like every sp1 signature.
import { ByteWriter } from './encoding.js';
import { fingerprint } from './identity.js';
import { LABEL, SUITE } from './labels.js';
import { ed25519KeyPair, ed25519Sign, ed25519Verify, type KeyPair } from './sodium.js';

export const COUNTERSIGN_LABEL = LABEL.countersign;

export interface Countersigned {
  readonly jid: string;
  readonly device: number;
  readonly identityKey: Uint8Array;
  /** ms since the epoch when the directory first saw this (jid, device, IK). */
  readonly firstSeen: number;
}

export function countersignedBytes(c: Countersigned): Uint8Array {
  return new ByteWriter()
    .str(COUNTERSIGN_LABEL)
    .str(SUITE)
    .str(c.jid)
    .u32(c.device)
    .bytes(fingerprint(c.identityKey))
    .u64(c.firstSeen)
    .finish();
}

export function countersign(c: Countersigned, serverSecretKey: Uint8Array): Uint8Array {
  return ed25519Sign(countersignedBytes(c), serverSecretKey);
}

/** False for a bad signature, key or length; never throws on hostile input. */
export function verifyCountersign(c: Countersigned, signature: Uint8Array, serverPublicKey: Uint8Array): boolean {
  try {
    return ed25519Verify(signature, countersignedBytes(c), serverPublicKey);
  } catch {
    return false;
  }
}

/** A fresh Ed25519 server key. */
export function createServerKey(): KeyPair {
  return ed25519KeyPair();
}
