// Prekeys of suite sp1 and their signatures (design.md, "Cryptographic construction"): the
// signed prekey SPK (X25519, id, expiry), one-time prekeys OPK and the archive key AK, each
// signed by the device IK over label ‖ suite ‖ jid ‖ device ‖ id ‖ pub (‖ expiry for the SPK);
// an AK's suite is its own (archive-suite.ts: X25519 "sp1" or X-Wing "sp1-xwing").
import { archiveKeyPair, DEFAULT_ARCHIVE_SUITE, type ArchiveSuite } from './archive-suite.js';
import { ByteWriter } from './encoding.js';
import type { DeviceIdentity } from './identity.js';
import { LABEL, SUITE } from './labels.js';
import { ed25519Sign, ed25519Verify, x25519KeyPair } from './sodium.js';

/** The public part of a signed prekey, as published in a bundle. */
export interface SignedPrekey {
  readonly id: number;
  readonly publicKey: Uint8Array;
  /** Milliseconds since the epoch after which senders must not use it. */
  readonly expires: number;
  readonly signature: Uint8Array;
}

/** The public part of a one-time prekey. */
export interface OneTimePrekey {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** The public part of the account's archive key, signed by the publishing device. */
export interface ArchiveKey {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  /** Absent: "sp1" (X25519). */
  readonly suite?: ArchiveSuite;
}

/** Who signs: a device of a bare JID. */
export interface Signer {
  readonly jid: string;
  readonly device: number;
}

export function spkSignedBytes(who: Signer, id: number, publicKey: Uint8Array, expires: number): Uint8Array {
  return new ByteWriter()
    .str(LABEL.spkSig)
    .str(SUITE)
    .str(who.jid)
    .u32(who.device)
    .u32(id)
    .bytes(publicKey)
    .u64(expires)
    .finish();
}

export function opkSignedBytes(who: Signer, id: number, publicKey: Uint8Array): Uint8Array {
  return new ByteWriter().str(LABEL.opkSig).str(SUITE).str(who.jid).u32(who.device).u32(id).bytes(publicKey).finish();
}

export function akSignedBytes(who: Signer, id: number, publicKey: Uint8Array, suite: ArchiveSuite = SUITE): Uint8Array {
  return new ByteWriter().str(LABEL.akSig).str(suite).str(who.jid).u32(who.device).u32(id).bytes(publicKey).finish();
}

export function verifySignedPrekey(ik: Uint8Array, who: Signer, spk: SignedPrekey): boolean {
  return ed25519Verify(spk.signature, spkSignedBytes(who, spk.id, spk.publicKey, spk.expires), ik);
}

export function verifyOneTimePrekey(ik: Uint8Array, who: Signer, opk: OneTimePrekey): boolean {
  return ed25519Verify(opk.signature, opkSignedBytes(who, opk.id, opk.publicKey), ik);
}

export function verifyArchiveKey(ik: Uint8Array, who: Signer, ak: ArchiveKey): boolean {
  return ed25519Verify(ak.signature, akSignedBytes(who, ak.id, ak.publicKey, ak.suite), ik);
}

/** A prekey with its secret, as the owner keeps it. */
export interface SecretPrekey {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** An archive key with its secret (X-Wing: the 32-byte seed); suite absent means "sp1". */
export interface SecretArchiveKey extends SecretPrekey {
  readonly suite?: ArchiveSuite;
}

export interface SecretSignedPrekey extends SecretPrekey {
  readonly createdAt: number;
  readonly expires: number;
}

export function generateSignedPrekey(
  identity: DeviceIdentity,
  id: number,
  createdAt: number,
  expires: number,
): SecretSignedPrekey {
  const kp = x25519KeyPair();
  const signature = ed25519Sign(spkSignedBytes(identity, id, kp.publicKey, expires), identity.secretKey);
  return { id, publicKey: kp.publicKey, secretKey: kp.secretKey, signature, createdAt, expires };
}

export function generateOneTimePrekey(identity: DeviceIdentity, id: number): SecretPrekey {
  const kp = x25519KeyPair();
  const signature = ed25519Sign(opkSignedBytes(identity, id, kp.publicKey), identity.secretKey);
  return { id, publicKey: kp.publicKey, secretKey: kp.secretKey, signature };
}

/** A fresh archive key for the account (X-Wing unless told); other devices import it and re-sign. */
export function generateArchiveKey(identity: DeviceIdentity, id: number, suite: ArchiveSuite = DEFAULT_ARCHIVE_SUITE): SecretArchiveKey {
  const kp = archiveKeyPair(suite);
  return { id, publicKey: kp.publicKey, secretKey: kp.secretKey, signature: signArchiveKey(identity, id, kp.publicKey, suite), ...withSuite(suite) };
}

/** `{ suite }` for X-Wing, nothing for sp1 (the form every sp1 key had before suites). */
export function withSuite(suite: ArchiveSuite | undefined): { suite?: ArchiveSuite } {
  return suite === undefined || suite === SUITE ? {} : { suite };
}

/** This device's signature over an archive key (also for one imported from another device). */
export function signArchiveKey(identity: DeviceIdentity, id: number, publicKey: Uint8Array, suite: ArchiveSuite = SUITE): Uint8Array {
  return ed25519Sign(akSignedBytes(identity, id, publicKey, suite), identity.secretKey);
}
