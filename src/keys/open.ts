// Opening a sealed envelope with every check of design.md "Cryptographic construction", step 5:
// prekey known and unexpired, recipient is me (sender is me for a sent-history copy), outer
// envelope agrees with the signed header, payload hash and signature under a trusted sender key,
// timestamp window, message id new. Only then is the one-time prekey secret erased.
import { AppError, ErrorCode } from '../errors/index.js';
import { archiveOpen, type ArchiveSuite } from './archive-suite.js';
import { envelopeFromWire, type KeyBlock, type SealedEnvelope } from './envelope.js';
import { arg, idProblem, jidProblem } from './fields.js';
import { decodeHeader, messageSignedBytes, PAYLOAD_HASH_BYTES, splitKeyBlock, type MessageHeader } from './header.js';
import type { PrekeyStore } from './keyring.js';
import { checkSuite, PAYLOAD_OVERHEAD, resolveLimits, SUITE, type Limits } from './labels.js';
import type { ReplayStore } from './replay.js';
import { DEFAULT_ROTATION } from './rotation.js';
import { aeadOpen, blake2b, boxSealOpen, ed25519Verify, wipe } from './sodium.js';
import { DAY_MS } from './state.js';
import { checkTrust, type NewDevicePolicy, type TrustDecision, type TrustStore } from './trust.js';

/** device: a transit copy for this device; archive: the recipient's history copy; sent: my own. */
export type OpenAs = 'device' | 'archive' | 'sent';

export interface TimeWindow {
  /** Oldest accepted transit message (the replay store must remember at least this long). */
  readonly maxAgeMs: number;
  /** Largest accepted clock skew into the future. */
  readonly maxSkewMs: number;
}

export const DEFAULT_WINDOW: TimeWindow = Object.freeze({ maxAgeMs: 30 * DAY_MS, maxSkewMs: 5 * 60 * 1000 });

export interface OpenContext {
  readonly me: { readonly jid: string; readonly device?: number };
  readonly prekeys: PrekeyStore;
  readonly trust: TrustStore;
  /** Required for `as: 'device'`; history copies are read many times and skip it. */
  readonly replay?: ReplayStore;
  readonly as?: OpenAs;
  readonly now?: () => number;
  readonly window?: Partial<TimeWindow>;
  /** How long after its expiry a signed prekey still opens messages sealed before it expired. */
  readonly spkGraceMs?: number;
  /** Trust a sender's key on first use (default true); false requires a pinned or verified key. */
  readonly tofu?: boolean;
  /** A new device of a known contact: 'alert' (default; trust says 'new-device') or 'refuse' until accepted. */
  readonly newDevices?: NewDevicePolicy;
  /** Called before a key never seen is pinned: throws when the directory never countersigned it. */
  readonly vouch?: (jid: string, device: number, identityKey: Uint8Array) => Promise<void>;
  readonly limits?: Partial<Limits>;
}

export interface OpenedMessage {
  readonly messageId: string;
  readonly sender: MessageHeader['sender'];
  readonly recipient: string;
  readonly timestamp: number;
  readonly contentType: string;
  readonly plaintext: Uint8Array;
  /** 'new' when this message pinned the sender's key. */
  readonly trust: TrustDecision;
  readonly prekey: { readonly kind: 'opk' | 'spk' | 'ak'; readonly id: number };
}

const fail = (code: ErrorCode, msg: string): never => {
  throw new AppError(code, msg);
};

function findBlock(env: SealedEnvelope, as: OpenAs, device: number | undefined): KeyBlock {
  const block = env.blocks.find((b) =>
    as === 'device'
      ? b.target.kind === 'device' && b.target.device === device
      : b.target.kind === 'ak' && b.target.owner === (as === 'archive' ? 'recipient' : 'sender'),
  );
  const what = as === 'device' ? `device ${device}` : as === 'archive' ? "the recipient's archive key" : "the sender's archive key";
  return block ?? fail(ErrorCode.NotFound, `message ${env.messageId}: no key block for ${what}`);
}

function checkAgreement(env: SealedEnvelope, h: MessageHeader): void {
  const diffs: string[] = [];
  if (h.suite !== env.suite) diffs.push('suite');
  if (h.messageId !== env.messageId) diffs.push('message id');
  if (h.sender.jid !== env.sender.jid) diffs.push('sender');
  if (h.sender.device !== env.sender.device) diffs.push('sender device');
  if (h.recipient !== env.recipient) diffs.push('recipient');
  if (diffs.length > 0)
    fail(ErrorCode.BadSignature, `message ${env.messageId}: outer envelope disagrees with the signed header (${diffs.join(', ')})`);
}

/** Opens one envelope for `ctx.me`; throws an AppError naming the first check that failed. */
export async function open(env: SealedEnvelope, ctx: OpenContext): Promise<OpenedMessage> {
  const as = ctx.as ?? 'device';
  const now = (ctx.now ?? Date.now)();
  const window = { ...DEFAULT_WINDOW, ...ctx.window };
  const limits = resolveLimits(ctx.limits);
  arg('me.jid', ctx.me.jid, jidProblem);
  if (as === 'device') {
    arg('me.device', ctx.me.device, idProblem);
    if (ctx.replay === undefined) throw new TypeError('replay: a replay store is required to open transit messages');
  }
  checkSuite(env.suite, `message ${env.messageId}`);
  if (env.payload.length < PAYLOAD_OVERHEAD || env.payload.length > limits.maxPayloadBytes + PAYLOAD_OVERHEAD)
    fail(ErrorCode.ResourceLimit, `message ${env.messageId}: payload size ${env.payload.length} out of bounds`);
  const mine = as === 'sent' ? env.sender.jid : env.recipient;
  if (mine !== ctx.me.jid) fail(ErrorCode.Forbidden, `message ${env.messageId}: addressed to ${mine}, not to me (${ctx.me.jid})`);

  // A message already accepted once (at-least-once delivery) is a duplicate: refuse it before
  // touching any key. Only fully verified messages are recorded, so a forgery cannot block one.
  if (as === 'device' && ctx.replay !== undefined && (await ctx.replay.has(env.sender.jid, env.messageId)))
    fail(ErrorCode.Replay, `message ${env.messageId} from ${env.sender.jid} was already received`);

  // The prekey: known, its secret still held, and not past its grace period.
  const block = findBlock(env, as, ctx.me.device);
  let kind: 'opk' | 'spk' | 'ak';
  let keyPair: { publicKey: Uint8Array; secretKey: Uint8Array; suite?: ArchiveSuite };
  let spkExpires: number | undefined;
  if (as === 'device') {
    const pk = await ctx.prekeys.devicePrekey(block.prekeyId);
    if (pk === undefined) return fail(ErrorCode.NotFound, `message ${env.messageId}: prekey ${block.prekeyId} is unknown or already used`);
    kind = pk.kind;
    if (pk.kind === 'spk') {
      spkExpires = pk.expires;
      if (pk.secretKey === null || now >= pk.expires + (ctx.spkGraceMs ?? DEFAULT_ROTATION.graceMs))
        return fail(ErrorCode.Expired, `message ${env.messageId}: signed prekey ${pk.id} expired and its grace period is over`);
    }
    keyPair = { publicKey: pk.publicKey, secretKey: pk.secretKey as Uint8Array };
  } else {
    const ak = await ctx.prekeys.archiveKey(block.prekeyId);
    if (ak === undefined) return fail(ErrorCode.NotFound, `message ${env.messageId}: archive key ${block.prekeyId} is unknown`);
    kind = 'ak';
    keyPair = ak;
  }

  const plain =
    kind === 'ak'
      ? archiveOpen(keyPair.suite ?? SUITE, block.box, keyPair.publicKey, keyPair.secretKey)
      : boxSealOpen(block.box, keyPair.publicKey, keyPair.secretKey);
  if (plain === undefined) return fail(ErrorCode.BadSignature, `message ${env.messageId}: key block does not open with prekey ${block.prekeyId}`);
  try {
    const parts = splitKeyBlock(plain);
    const header = decodeHeader(parts.headerBytes);
    checkAgreement(env, header);
    if (as === 'sent' ? header.sender.jid !== ctx.me.jid : header.recipient !== ctx.me.jid)
      fail(ErrorCode.Forbidden, `message ${env.messageId}: signed header is not addressed to me`);
    if (spkExpires !== undefined && header.timestamp > spkExpires + window.maxSkewMs)
      fail(ErrorCode.Expired, `message ${env.messageId}: sealed after signed prekey ${block.prekeyId} expired`);

    const signed = messageSignedBytes(parts.headerBytes, blake2b(PAYLOAD_HASH_BYTES, env.payload));
    if (!ed25519Verify(parts.signature, signed, header.sender.identityKey))
      fail(ErrorCode.BadSignature, `message ${env.messageId}: signature over header and payload hash does not verify`);
    const trust = await checkTrust(ctx.trust, header.sender.jid, header.sender.device, header.sender.identityKey, now, ctx.tofu ?? true, ctx.newDevices);

    if (header.timestamp > now + window.maxSkewMs)
      fail(ErrorCode.Expired, `message ${env.messageId}: timestamp is in the future`);
    if (as === 'device' && header.timestamp < now - window.maxAgeMs)
      fail(ErrorCode.Expired, `message ${env.messageId}: older than the accepted window`);
    if (ctx.replay !== undefined && as === 'device' && (await ctx.replay.has(header.sender.jid, header.messageId)))
      fail(ErrorCode.Replay, `message ${env.messageId} from ${header.sender.jid} was already received`);

    const plaintext = aeadOpen(parts.contentKey, env.payload, parts.headerBytes);
    if (plaintext === undefined) return fail(ErrorCode.BadSignature, `message ${env.messageId}: payload does not decrypt`);

    // Every check passed: commit (replay mark, first-use pin, one-time prekey erasure).
    if (ctx.replay !== undefined && as === 'device') {
      const fresh = await ctx.replay.add({ sender: header.sender.jid, messageId: header.messageId, timestamp: header.timestamp });
      if (!fresh) fail(ErrorCode.Replay, `message ${env.messageId} from ${header.sender.jid} was already received`);
    }
    if ((trust === 'new' || trust === 'new-device') && as === 'device') await ctx.vouch?.(header.sender.jid, header.sender.device, header.sender.identityKey);
    if (trust === 'new' || trust === 'new-device') await ctx.trust.pin(header.sender.jid, header.sender.device, header.sender.identityKey, now);
    if (kind === 'opk') await ctx.prekeys.consumeOneTimePrekey(block.prekeyId);

    return {
      messageId: header.messageId,
      sender: header.sender,
      recipient: header.recipient,
      timestamp: header.timestamp,
      contentType: header.contentType,
      plaintext,
      trust,
      prekey: { kind, id: block.prekeyId },
    };
  } finally {
    wipe(plain);
  }
}

/** envelopeFromWire then open: the recipient's path from the wire form. */
export function openWire(value: unknown, ctx: OpenContext): Promise<OpenedMessage> {
  return Promise.resolve().then(() => open(envelopeFromWire(value, ctx.limits), ctx));
}
