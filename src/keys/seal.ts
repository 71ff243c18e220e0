// Sealing a message for a recipient's devices, exactly per design.md "Cryptographic construction",
// steps 1-4: signed header, payload under a random content key K, sig over label ‖ header ‖
// BLAKE2b-256(payload), and one crypto_box_seal(K ‖ sig ‖ header) per device; an archive key
// gets the same plaintext sealed by its own suite (archive-suite.ts: sealed box or X-Wing).
import { AppError, ErrorCode } from '../errors/index.js';
import { archiveParams, archiveSeal, type ArchiveSuite } from './archive-suite.js';
import type { VerifiedBundle } from './bundle.js';
import { newMessageId, type KeyBlock, type SealedEnvelope } from './envelope.js';
import { arg, argBytes, contentTypeProblem, idProblem, jidProblem, messageIdProblem, timestampProblem } from './fields.js';
import { encodeHeader, keyBlockPlaintext, messageSignedBytes, PAYLOAD_HASH_BYTES } from './header.js';
import type { DeviceIdentity } from './identity.js';
import { resolveLimits, SUITE, type Limits } from './labels.js';
import {
  AEAD_KEY_BYTES,
  aeadSeal,
  blake2b,
  boxSeal,
  ed25519Sign,
  ED25519_PUBLIC_BYTES,
  ED25519_SECRET_BYTES,
  randomBytes,
  wipe,
  X25519_PUBLIC_BYTES,
} from './sodium.js';

/** One recipient device: its claimed one-time prekey, or its signed prekey when none is left. */
export interface DeviceTarget {
  readonly device: number;
  readonly prekeyId: number;
  readonly publicKey: Uint8Array;
}

/** An archive key (the recipient's, or the sender's own for a sent-history copy). */
export interface ArchiveTarget {
  readonly id: number;
  readonly publicKey: Uint8Array;
  /** Absent: "sp1" (X25519). */
  readonly suite?: ArchiveSuite;
}

export interface SealInput {
  readonly from: DeviceIdentity;
  /** Bare JID of the recipient account. */
  readonly to: string;
  readonly devices: readonly DeviceTarget[];
  readonly recipientArchive?: ArchiveTarget;
  readonly senderArchive?: ArchiveTarget;
  readonly plaintext: Uint8Array;
  readonly contentType: string;
  /** Defaults to 16 random bytes in base64url. */
  readonly messageId?: string;
  /** Clock for the header timestamp (ms since the epoch). */
  readonly now?: () => number;
  readonly limits?: Partial<Limits>;
}

function checkInput(input: SealInput, limits: Limits): void {
  const { from } = input;
  arg('from.jid', from.jid, jidProblem);
  arg('from.device', from.device, idProblem);
  argBytes('from.publicKey', from.publicKey, ED25519_PUBLIC_BYTES);
  argBytes('from.secretKey', from.secretKey, ED25519_SECRET_BYTES);
  arg('to', input.to, jidProblem);
  arg('contentType', input.contentType, contentTypeProblem);
  if (input.messageId !== undefined) arg('messageId', input.messageId, messageIdProblem);
  if (!(input.plaintext instanceof Uint8Array)) throw new TypeError('plaintext: expected Uint8Array');
  if (input.plaintext.length > limits.maxPayloadBytes)
    throw new RangeError(`plaintext: ${input.plaintext.length} bytes, at most ${limits.maxPayloadBytes}`);
  const devices: unknown = input.devices;
  if (!Array.isArray(devices)) throw new TypeError('devices: expected an array');
  if (input.devices.length < 1 || input.devices.length > limits.maxDevices)
    throw new RangeError(`devices: expected 1..${limits.maxDevices} devices, got ${input.devices.length}`);
  const seen = new Set<number>();
  input.devices.forEach((d, i) => {
    arg(`devices[${i}].device`, d.device, idProblem);
    arg(`devices[${i}].prekeyId`, d.prekeyId, idProblem);
    argBytes(`devices[${i}].publicKey`, d.publicKey, X25519_PUBLIC_BYTES);
    if (seen.has(d.device)) throw new RangeError(`devices[${i}]: device ${d.device} listed twice`);
    seen.add(d.device);
  });
  for (const [label, ak] of [['recipientArchive', input.recipientArchive], ['senderArchive', input.senderArchive]] as const) {
    if (ak === undefined) continue;
    arg(`${label}.id`, ak.id, idProblem);
    argBytes(`${label}.publicKey`, ak.publicKey, archiveParams(ak.suite).publicBytes);
  }
}

/** Seals `plaintext` from `from` to the listed devices and archive keys. Synchronous, no I/O. */
export function seal(input: SealInput): SealedEnvelope {
  const limits = resolveLimits(input.limits);
  checkInput(input, limits);
  const timestamp = arg('now()', (input.now ?? Date.now)(), timestampProblem);
  const messageId = input.messageId ?? newMessageId();
  const header = encodeHeader({
    suite: SUITE,
    messageId,
    sender: { jid: input.from.jid, device: input.from.device, identityKey: input.from.publicKey },
    recipient: input.to,
    timestamp,
    contentType: input.contentType,
  });

  const contentKey = randomBytes(AEAD_KEY_BYTES);
  const payload = aeadSeal(contentKey, input.plaintext, header);
  const sig = ed25519Sign(messageSignedBytes(header, blake2b(PAYLOAD_HASH_BYTES, payload)), input.from.secretKey);
  const plain = keyBlockPlaintext(contentKey, sig, header);
  wipe(contentKey);

  const blocks: KeyBlock[] = input.devices.map((d) => ({
    target: { kind: 'device', device: d.device },
    prekeyId: d.prekeyId,
    box: boxSeal(plain, d.publicKey),
  }));
  for (const [owner, ak] of [['recipient', input.recipientArchive], ['sender', input.senderArchive]] as const)
    if (ak !== undefined) blocks.push({ target: { kind: 'ak', owner }, prekeyId: ak.id, box: archiveSeal(ak.suite ?? SUITE, plain, ak.publicKey) });
  wipe(plain);

  return { suite: SUITE, messageId, sender: { jid: input.from.jid, device: input.from.device }, recipient: input.to, blocks, payload };
}

export interface SealTargets {
  readonly devices: DeviceTarget[];
  readonly archive?: ArchiveTarget;
}

/**
 * Chooses, per verified bundle of `recipient`, its first one-time prekey or else its unexpired
 * signed prekey; and the recipient's archive key (the highest id any device signed).
 */
export function targetsFromBundles(recipient: string, bundles: readonly VerifiedBundle[], now: number): SealTargets {
  const devices: DeviceTarget[] = [];
  let archive: ArchiveTarget | undefined;
  for (const b of bundles) {
    if (b.jid !== recipient)
      throw new AppError(ErrorCode.Forbidden, `bundle of ${b.jid} offered for recipient ${recipient}`);
    const opk = b.oneTimePrekeys[0];
    if (opk !== undefined) {
      devices.push({ device: b.device, prekeyId: opk.id, publicKey: opk.publicKey });
    } else {
      if (b.signedPrekey.expires <= now)
        throw new AppError(ErrorCode.Expired, `device ${b.device} of ${recipient}: signed prekey ${b.signedPrekey.id} expired and no one-time prekey left`);
      devices.push({ device: b.device, prekeyId: b.signedPrekey.id, publicKey: b.signedPrekey.publicKey });
    }
    const ak = b.archiveKey;
    if (ak !== undefined && (archive === undefined || ak.id > archive.id))
      archive = ak.suite === undefined ? { id: ak.id, publicKey: ak.publicKey } : { id: ak.id, publicKey: ak.publicKey, suite: ak.suite };
  }
  return archive === undefined ? { devices } : { devices, archive };
}
