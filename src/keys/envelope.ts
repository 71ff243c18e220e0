// The sealed envelope of suite sp1: typed form and wire form, with the shape check the server
// runs without any secret. The outer envelope repeats in clear only what the server needs
// (design.md, "Cryptographic construction", step 4; "Limits"; invariants 4 and 5).
import { AppError, ErrorCode } from '../errors/index.js';
import { XWING_EXTRA_BYTES } from './archive-suite.js';
import { base64Bytes, base64Length, fromBase64, toBase64 } from './encoding.js';
import { idProblem, jidProblem, messageIdProblem, wire, wireKeys, wireObject } from './fields.js';
import { KEY_BLOCK_PREFIX_BYTES, MAX_HEADER_BYTES, MIN_HEADER_BYTES } from './header.js';
import { checkSuite, PAYLOAD_OVERHEAD, resolveLimits, type Limits, type Suite } from './labels.js';
import { BOX_SEAL_OVERHEAD, randomBytes } from './sodium.js';

export type ArchiveOwner = 'recipient' | 'sender';
export type KeyBlockTarget =
  | { readonly kind: 'device'; readonly device: number }
  | { readonly kind: 'ak'; readonly owner: ArchiveOwner };

export interface KeyBlock {
  readonly target: KeyBlockTarget;
  /** Id of the prekey (OPK or SPK of that device) or of the archive key sealed to. */
  readonly prekeyId: number;
  /** crypto_box_seal(K ‖ sig ‖ header). */
  readonly box: Uint8Array;
}

export interface SealedEnvelope {
  readonly suite: Suite;
  readonly messageId: string;
  readonly sender: { readonly jid: string; readonly device: number };
  readonly recipient: string;
  readonly blocks: readonly KeyBlock[];
  /** nonce ‖ XChaCha20-Poly1305 ciphertext ‖ tag. */
  readonly payload: Uint8Array;
}

/** What the vault keeps of every stored message and hands back with each copy: the sealed payload
 *  and the clear fields a recipient checks against the signed header. */
export interface StoredMessageHead {
  sender: string;
  senderDevice: number;
  messageId: string;
  suite: string;
  /** When the vault received the submission (ms): the XEP-0203 stamp. */
  receivedAt: number;
  /** nonce ‖ XChaCha20-Poly1305 ciphertext ‖ tag. */
  payload: Uint8Array;
}

/** Exactly one of `device` and `ak`. */
export interface KeyBlockWire {
  device?: number;
  ak?: ArchiveOwner;
  prekey: number;
  box: string;
}

export interface EnvelopeWire {
  suite: string;
  id: string;
  from: string;
  device: number;
  to: string;
  blocks: KeyBlockWire[];
  /** Payload bytes (decoded), so quotas can be applied before decoding. */
  size: number;
  payload: string;
}

export const MIN_KEY_BLOCK_BYTES = BOX_SEAL_OVERHEAD + KEY_BLOCK_PREFIX_BYTES + MIN_HEADER_BYTES;
export const MAX_KEY_BLOCK_BYTES = BOX_SEAL_OVERHEAD + KEY_BLOCK_PREFIX_BYTES + MAX_HEADER_BYTES;
/** An archive block may be an X-Wing copy (archive-suite.ts): the same plaintext, more overhead. */
export const MAX_ARCHIVE_BLOCK_BYTES = MAX_KEY_BLOCK_BYTES + XWING_EXTRA_BYTES;

/** 16 random bytes, base64url without padding (22 characters). */
export function newMessageId(): string {
  return Buffer.from(randomBytes(16)).toString('base64url');
}

export function envelopeToWire(e: SealedEnvelope): EnvelopeWire {
  return {
    suite: e.suite,
    id: e.messageId,
    from: e.sender.jid,
    device: e.sender.device,
    to: e.recipient,
    blocks: e.blocks.map((b) =>
      b.target.kind === 'device'
        ? { device: b.target.device, prekey: b.prekeyId, box: toBase64(b.box) }
        : { ak: b.target.owner, prekey: b.prekeyId, box: toBase64(b.box) },
    ),
    size: e.payload.length,
    payload: toBase64(e.payload),
  };
}

/** How a parse takes a base64 field: decoded (fromBase64), or checked and measured only (base64Bytes). */
type ReadBase64<B> = (label: string, value: unknown, min: number, max?: number) => B;
const byteLength = (b: Uint8Array | number): number => (typeof b === 'number' ? b : b.length);

/** A key block whose box is bytes, or (checked, not decoded) its length. */
interface BlockOf<B> {
  readonly target: KeyBlockTarget;
  readonly prekeyId: number;
  readonly box: B;
}

function blockFromWire<B extends Uint8Array | number>(label: string, value: unknown, read: ReadBase64<B>): BlockOf<B> {
  const o = wireObject(label, value);
  wireKeys(label, o, ['device', 'ak', 'prekey', 'box']);
  let target: KeyBlockTarget;
  if (o.device !== undefined && o.ak === undefined) {
    target = { kind: 'device', device: wire<number>(`${label}.device`, o.device, idProblem) };
  } else if (o.ak !== undefined && o.device === undefined) {
    if (o.ak !== 'recipient' && o.ak !== 'sender')
      throw new AppError(ErrorCode.BadInput, `${label}.ak: expected "recipient" or "sender"`);
    target = { kind: 'ak', owner: o.ak };
  } else {
    throw new AppError(ErrorCode.BadInput, `${label}: exactly one of device and ak`);
  }
  const prekeyId = wire<number>(`${label}.prekey`, o.prekey, idProblem);
  const max = target.kind === 'ak' ? MAX_ARCHIVE_BLOCK_BYTES : MAX_KEY_BLOCK_BYTES;
  const box = read(`${label}.box`, o.box, MIN_KEY_BLOCK_BYTES, max);
  return { target, prekeyId, box };
}

/**
 * Cross-block rules: device count, unique devices, one archive block per owner, equal sizes (all
 * blocks hold the same plaintext; an archive block may be larger by exactly the X-Wing overhead).
 */
function checkBlocks(blocks: readonly BlockOf<Uint8Array | number>[], limits: Limits): void {
  const devices = new Set<number>();
  const owners = new Set<ArchiveOwner>();
  for (const b of blocks) {
    if (b.target.kind === 'device') {
      if (devices.has(b.target.device))
        throw new AppError(ErrorCode.BadInput, `envelope.blocks: device ${b.target.device} appears twice`);
      devices.add(b.target.device);
    } else {
      if (owners.has(b.target.owner))
        throw new AppError(ErrorCode.BadInput, `envelope.blocks: two archive blocks for the ${b.target.owner}`);
      owners.add(b.target.owner);
    }
  }
  if (devices.size === 0) throw new AppError(ErrorCode.BadInput, 'envelope.blocks: no device key block');
  if (devices.size > limits.maxDevices)
    throw new AppError(ErrorCode.ResourceLimit, `envelope.blocks: ${devices.size} devices, at most ${limits.maxDevices}`);
  const first = blocks.find((b) => b.target.kind === 'device');
  const size = first === undefined ? 0 : byteLength(first.box);
  const fits = (b: BlockOf<Uint8Array | number>): boolean =>
    byteLength(b.box) === size || (b.target.kind === 'ak' && byteLength(b.box) === size + XWING_EXTRA_BYTES);
  if (!blocks.every(fits))
    throw new AppError(ErrorCode.BadInput, 'envelope.blocks: key blocks of one message must have equal sizes');
}

/** An envelope parsed with its base64 fields decoded (bytes) or only checked (their lengths). */
interface ParsedOf<B> extends Omit<SealedEnvelope, 'blocks' | 'payload'> {
  readonly blocks: readonly BlockOf<B>[];
  readonly payload: B;
}

/** Strict parse of the wire form; every length, count and base64 string is checked; `read` takes each base64 field. */
function parseWire<B extends Uint8Array | number>(value: unknown, limitOverrides: Partial<Limits> | undefined, read: ReadBase64<B>): ParsedOf<B> {
  const limits = resolveLimits(limitOverrides);
  const o = wireObject('envelope', value);
  const suite = checkSuite(o.suite, 'envelope');
  wireKeys('envelope', o, ['suite', 'id', 'from', 'device', 'to', 'blocks', 'size', 'payload']);
  const messageId = wire<string>('envelope.id', o.id, messageIdProblem);
  const from = wire<string>('envelope.from', o.from, jidProblem);
  const device = wire<number>('envelope.device', o.device, idProblem);
  const to = wire<string>('envelope.to', o.to, jidProblem);
  const maxPayload = limits.maxPayloadBytes + PAYLOAD_OVERHEAD;
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < PAYLOAD_OVERHEAD)
    throw new AppError(ErrorCode.BadInput, `envelope.size: expected an integer >= ${PAYLOAD_OVERHEAD}`);
  if (o.size > maxPayload || (typeof o.payload === 'string' && o.payload.length > base64Length(maxPayload)))
    throw new AppError(ErrorCode.ResourceLimit, `envelope.payload: larger than ${maxPayload} bytes`);
  if (!Array.isArray(o.blocks)) throw new AppError(ErrorCode.BadInput, 'envelope.blocks: expected an array');
  if (o.blocks.length > limits.maxDevices + 2)
    throw new AppError(ErrorCode.ResourceLimit, `envelope.blocks: ${o.blocks.length} key blocks, at most ${limits.maxDevices + 2}`);
  const blocks = (o.blocks as unknown[]).map((b, i) => blockFromWire(`envelope.blocks[${i}]`, b, read));
  checkBlocks(blocks, limits);
  const payload = read('envelope.payload', o.payload, o.size);
  return { suite, messageId, sender: { jid: from, device }, recipient: to, blocks, payload };
}

/** Strict parse of the wire form; every length, count and base64 string is checked. */
export function envelopeFromWire(value: unknown, limitOverrides?: Partial<Limits>): SealedEnvelope {
  return parseWire(value, limitOverrides, fromBase64);
}

/** What a server may know about an envelope: ids, JIDs and sizes, never content. */
export interface EnvelopeShape {
  readonly suite: Suite;
  readonly messageId: string;
  readonly from: string;
  readonly device: number;
  readonly to: string;
  readonly blocks: readonly { readonly target: KeyBlockTarget; readonly prekeyId: number }[];
  readonly payloadBytes: number;
  readonly keyBlockBytes: number;
  readonly totalBytes: number;
}

export interface ShapeOptions {
  limits?: Partial<Limits>;
  /** The sender bare JID the server stamped; `from` must equal it (invariant 4). */
  expectFrom?: string;
  /** The recipient the stanza was addressed for; `to` must equal it. */
  expectTo?: string;
}

function shapeOf(e: ParsedOf<Uint8Array | number>, options: ShapeOptions): EnvelopeShape {
  if (options.expectFrom !== undefined && e.sender.jid !== options.expectFrom)
    throw new AppError(ErrorCode.Forbidden, `envelope.from ${e.sender.jid} is not the stamped sender ${options.expectFrom}`);
  if (options.expectTo !== undefined && e.recipient !== options.expectTo)
    throw new AppError(ErrorCode.Forbidden, `envelope.to ${e.recipient} is not ${options.expectTo}`);
  const keyBlockBytes = e.blocks.reduce((n, b) => n + byteLength(b.box), 0);
  const payloadBytes = byteLength(e.payload);
  return {
    suite: e.suite,
    messageId: e.messageId,
    from: e.sender.jid,
    device: e.sender.device,
    to: e.recipient,
    blocks: e.blocks.map((b) => ({ target: b.target, prekeyId: b.prekeyId })),
    payloadBytes,
    keyBlockBytes,
    totalBytes: keyBlockBytes + payloadBytes,
  };
}

/**
 * The server's check of an envelope without any secret: shape, sizes, counts, base64, suite, and
 * optionally agreement with the stamped sender. Returns the envelope and its clear summary.
 */
export function checkEnvelopeShape(value: unknown, options: ShapeOptions = {}): { envelope: SealedEnvelope; shape: EnvelopeShape } {
  const envelope = envelopeFromWire(value, options.limits);
  return { envelope, shape: shapeOf(envelope, options) };
}

/**
 * The same checks as checkEnvelopeShape, without decoding a byte (issue 16: the server that only
 * queues an envelope decodes it once, where it stores it). Returns the checked wire form, rebuilt
 * from the checked fields only (its base64 is canonical, as checked), and the clear summary.
 */
export function checkEnvelopeWire(value: unknown, options: ShapeOptions = {}): { wire: EnvelopeWire; shape: EnvelopeShape } {
  const e = parseWire(value, options.limits, base64Bytes);
  const shape = shapeOf(e, options);
  const o = value as EnvelopeWire; // parseWire checked every field read here
  const wire: EnvelopeWire = {
    suite: e.suite,
    id: e.messageId,
    from: e.sender.jid,
    device: e.sender.device,
    to: e.recipient,
    blocks: e.blocks.map((b, i) => {
      const box = (o.blocks[i] as KeyBlockWire).box;
      return b.target.kind === 'device' ? { device: b.target.device, prekey: b.prekeyId, box } : { ak: b.target.owner, prekey: b.prekeyId, box };
    }),
    size: e.payload,
    payload: o.payload,
  };
  return { wire, shape };
}

/**
 * Strict parse of a history copy's wire form (an archive answer): the same fields as an envelope,
 * but exactly one key block, sealed to an archive key (the recipient's, or the sender's own for a
 * sent copy), and no device block. `open(..., { as: 'archive' | 'sent' })` checks the rest.
 */
export function archiveCopyFromWire(value: unknown, limitOverrides?: Partial<Limits>): SealedEnvelope {
  const limits = resolveLimits(limitOverrides);
  const o = wireObject('archive copy', value);
  if (!Array.isArray(o.blocks) || o.blocks.length !== 1)
    throw new AppError(ErrorCode.BadInput, 'archive copy: exactly one key block expected');
  const block = blockFromWire('archive copy.blocks[0]', o.blocks[0], fromBase64);
  if (block.target.kind !== 'ak') throw new AppError(ErrorCode.BadInput, 'archive copy: the key block must be sealed to an archive key');
  // Parse the rest through the envelope parser with a stand-in device block, then keep ours.
  const standInBytes = Math.max(MIN_KEY_BLOCK_BYTES, Math.min(MAX_KEY_BLOCK_BYTES, block.box.length));
  const standIn = { device: 1, prekey: 1, box: toBase64(new Uint8Array(standInBytes)) };
  const parsed = envelopeFromWire({ ...o, blocks: [standIn] }, limits);
  return { ...parsed, blocks: [block] };
}
