// Device identity of suite sp1: an Ed25519 identity key (IK) per device, a random 31-bit device
// id, and the fingerprint BLAKE2b-256(IK pub) in a grouped form people can compare
// (design.md, "Cryptographic construction", keys of one agent).
import { AppError, ErrorCode } from '../errors/index.js';
import { arg, argBytes, jidProblem } from './fields.js';
import { MAX_ID } from './labels.js';
import { blake2b, ed25519KeyPair, ED25519_PUBLIC_BYTES, HASH_BYTES, randomUniform } from './sodium.js';

export interface DeviceIdentity {
  readonly jid: string;
  readonly device: number;
  /** Ed25519 public identity key (IK pub). */
  readonly publicKey: Uint8Array;
  /** Ed25519 secret key (64 bytes); wipe when the identity is dropped. */
  readonly secretKey: Uint8Array;
}

/** A uniformly random device id in 1..2^31-1. */
export function newDeviceId(): number {
  return randomUniform(MAX_ID) + 1;
}

export function createDeviceIdentity(jid: string, device: number = newDeviceId()): DeviceIdentity {
  arg('jid', jid, jidProblem);
  if (!Number.isInteger(device) || device < 1 || device > MAX_ID)
    throw new RangeError(`device: must be 1..${MAX_ID}, got ${device}`);
  const kp = ed25519KeyPair();
  return { jid, device, publicKey: kp.publicKey, secretKey: kp.secretKey };
}

/** BLAKE2b-256 of the identity public key. */
export function fingerprint(identityKey: Uint8Array): Uint8Array {
  argBytes('identity key', identityKey, ED25519_PUBLIC_BYTES);
  return blake2b(HASH_BYTES, identityKey);
}

/** "1a2b 3c4d …": 16 groups of 4 lowercase hex digits. */
export function formatFingerprint(fp: Uint8Array): string {
  argBytes('fingerprint', fp, HASH_BYTES);
  const hex = Buffer.from(fp).toString('hex');
  return hex.match(/.{4}/g)?.join(' ') ?? hex;
}

/** The grouped form of an identity key's fingerprint. */
export function displayFingerprint(identityKey: Uint8Array): string {
  return formatFingerprint(fingerprint(identityKey));
}

/** Reads a fingerprint typed or pasted by a person: 64 hex digits, any spacing or case. */
export function parseFingerprint(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('fingerprint: expected a string');
  const hex = text.replace(/[\s:-]/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new AppError(ErrorCode.BadInput, 'fingerprint: expected 64 hexadecimal digits');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
