// The signed message header of suite sp1 and the plaintext of a key block, K ‖ sig ‖ header
// (design.md, "Cryptographic construction", sealing steps 1, 3 and 4). The header is the AEAD's
// associated data and, with the payload hash, the exact input of the sender's signature.
import { AppError, ErrorCode } from '../errors/index.js';
import { ByteReader, ByteWriter, utf8 } from './encoding.js';
import { contentTypeProblem, idProblem, jidProblem, messageIdProblem, timestampProblem, wire } from './fields.js';
import {
  checkSuite,
  LABEL,
  MAX_CONTENT_TYPE_BYTES,
  MAX_JID_BYTES,
  MAX_MESSAGE_ID_CHARS,
  SUITE,
  type Suite,
} from './labels.js';
import { AEAD_KEY_BYTES, ED25519_PUBLIC_BYTES, ED25519_SIGNATURE_BYTES, HASH_BYTES } from './sodium.js';

export interface MessageHeader {
  readonly suite: Suite;
  readonly messageId: string;
  readonly sender: { readonly jid: string; readonly device: number; readonly identityKey: Uint8Array };
  /** Bare JID of the recipient account. */
  readonly recipient: string;
  /** Sender's clock, ms since the epoch. */
  readonly timestamp: number;
  readonly contentType: string;
}

export function encodeHeader(h: MessageHeader): Uint8Array {
  return new ByteWriter()
    .str(LABEL.header)
    .str(h.suite)
    .str(h.messageId)
    .str(h.sender.jid)
    .u32(h.sender.device)
    .bytes(h.sender.identityKey)
    .str(h.recipient)
    .u64(h.timestamp)
    .str(h.contentType)
    .finish();
}

/** Strict decode: exact label, known suite, every field in bounds, no trailing bytes. */
export function decodeHeader(bytes: Uint8Array): MessageHeader {
  const r = new ByteReader(bytes, 'header');
  const label = r.str('label', 0, 64);
  if (label !== LABEL.header) throw new AppError(ErrorCode.BadInput, 'header: wrong domain label');
  const suite = checkSuite(r.str('suite', 0, 16), 'header');
  const messageId = wire<string>('header: message id', r.str('message id', 1, MAX_MESSAGE_ID_CHARS), messageIdProblem);
  const senderJid = wire<string>('header: sender', r.str('sender', 3, MAX_JID_BYTES), jidProblem);
  const device = wire<number>('header: sender device', r.u32('sender device'), idProblem);
  const identityKey = r.bytes('sender identity key', ED25519_PUBLIC_BYTES);
  const recipient = wire<string>('header: recipient', r.str('recipient', 3, MAX_JID_BYTES), jidProblem);
  const timestamp = wire<number>('header: timestamp', r.u64('timestamp'), timestampProblem);
  const contentType = wire<string>('header: content type', r.str('content type', 1, MAX_CONTENT_TYPE_BYTES), contentTypeProblem);
  r.end();
  return { suite, messageId, sender: { jid: senderJid, device, identityKey }, recipient, timestamp, contentType };
}

/** Size bounds of an encoded header, from the field bounds (used to bound key blocks). */
function headerSize(idChars: number, jidBytes: number, ctBytes: number): number {
  const fixed = 7 * 4 + 4 + 8; // seven length prefixes, the device (u32), the timestamp (u64)
  return fixed + utf8(LABEL.header).length + SUITE.length + idChars + 2 * jidBytes + ED25519_PUBLIC_BYTES + ctBytes;
}
export const MIN_HEADER_BYTES = headerSize(1, 3, 1);
export const MAX_HEADER_BYTES = headerSize(MAX_MESSAGE_ID_CHARS, MAX_JID_BYTES, MAX_CONTENT_TYPE_BYTES);

/** What the sender signs: label ‖ header ‖ BLAKE2b-256(payload ciphertext), each length-prefixed. */
export function messageSignedBytes(header: Uint8Array, payloadHash: Uint8Array): Uint8Array {
  return new ByteWriter().str(LABEL.messageSig).bytes(header).bytes(payloadHash).finish();
}

export const PAYLOAD_HASH_BYTES = HASH_BYTES;
/** Key-block plaintext bytes before the header: content key K and the signature. */
export const KEY_BLOCK_PREFIX_BYTES = AEAD_KEY_BYTES + ED25519_SIGNATURE_BYTES;

export function keyBlockPlaintext(contentKey: Uint8Array, sig: Uint8Array, header: Uint8Array): Uint8Array {
  const out = new Uint8Array(KEY_BLOCK_PREFIX_BYTES + header.length);
  out.set(contentKey, 0);
  out.set(sig, AEAD_KEY_BYTES);
  out.set(header, KEY_BLOCK_PREFIX_BYTES);
  return out;
}

export interface KeyBlockContent {
  readonly contentKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly headerBytes: Uint8Array;
}

/** Views into an opened key block (no copies: wipe the block plaintext when done). */
export function splitKeyBlock(plain: Uint8Array): KeyBlockContent {
  if (plain.length < KEY_BLOCK_PREFIX_BYTES + MIN_HEADER_BYTES || plain.length > KEY_BLOCK_PREFIX_BYTES + MAX_HEADER_BYTES)
    throw new AppError(ErrorCode.BadInput, `key block: plaintext length ${plain.length} out of bounds`);
  return {
    contentKey: plain.subarray(0, AEAD_KEY_BYTES),
    signature: plain.subarray(AEAD_KEY_BYTES, KEY_BLOCK_PREFIX_BYTES),
    headerBytes: plain.subarray(KEY_BLOCK_PREFIX_BYTES),
  };
}
