// Opens one delivered copy for the receiver (design.md "Sealing a message", step 5) with every
// check of the keys module, but stages the two commits `open` would make — the message id as seen
// and the one-time prekey erased — so they happen only once the application has the message.
import {
  displayFingerprint,
  openWire,
  type AgentKeyFile,
  type Limits,
  type PrekeyStore,
  type ReplayStore,
  type SeenEntry,
  type TrustDecision,
  type NewDevicePolicy,
  type TrustStore,
} from '../keys/index.js';
import { decodeProtectedStanza, envelopeFromXml, PROTECTED_STANZA_TYPE, type DeliveredCopy } from '../protocol/index.js';
import type { Element } from '../xmpp/index.js';
import { fileMethods, type FileMethods } from './files-manifest.js';

/** A verified message, as the application sees it; a file message (issue 17) also saves its file. */
export interface ReceivedMessage extends FileMethods {
  readonly messageId: string;
  /** Sender bare JID, from the signed header. */
  readonly from: string;
  /** Sender device id. */
  readonly device: number;
  /** Sender identity key fingerprint, grouped for reading aloud. */
  readonly fingerprint: string;
  /** 'new' when this message pinned the sender's key ('new-device': another device of a known contact), else 'tofu' or 'verified'. */
  readonly trust: TrustDecision;
  readonly contentType: string;
  readonly data: Uint8Array;
  /** Sender's signed timestamp (ms). */
  readonly sentAt: number;
  /** When the vault received it (XEP-0203 stamp), if given. */
  readonly storedAt: number | undefined;
  /** `data` as UTF-8 text. */
  text(): string;
  /** A protected stanza's element (issue 18), checked for bounds and the sender it claims. */
  readonly stanza?: Element;
  /** With trust 'verified' by an attestation from a trusted CA (issue 18): whose. */
  readonly attestation?: { subject: string; issuer: string };
}

export interface OpenDeliveryDeps {
  me: { jid: string; device: number };
  keys: Pick<AgentKeyFile, 'keyring' | 'replay'>;
  trust: TrustStore;
  newDevices?: NewDevicePolicy;
  /** Checks a sender key never seen against the directory's countersigned record. */
  vouch?: (jid: string, device: number, identityKey: Uint8Array) => Promise<void>;
  limits: Limits;
  now?: () => number;
  /** The shown fingerprint of a sender's identity key. */
  fingerprintOf: (identityKey: Uint8Array) => string;
}

export interface OpenedDelivery {
  message: ReceivedMessage;
  /**
   * Records the message id and erases the one-time prekey: in memory at once (so the next delivery
   * sees them), on disk with the next key-file write; resolves once that write is done.
   */
  commit(): Promise<unknown>;
}

const decoder = new TextDecoder();

/** Opens `delivery`; throws (an AppError, mostly) when it does not open. Nothing is committed until `commit`. */
export async function openDelivery(delivery: DeliveredCopy, deps: OpenDeliveryDeps): Promise<OpenedDelivery> {
  let seen: SeenEntry | undefined;
  let opk: number | undefined;
  const { keyring, replay } = deps.keys;
  const stagedPrekeys: PrekeyStore = {
    devicePrekey: (id) => keyring.devicePrekey(id),
    archiveKey: (id) => keyring.archiveKey(id),
    consumeOneTimePrekey: (id) => Promise.resolve(void (opk = id)),
  };
  const stagedReplay: ReplayStore = {
    has: (sender, id) => replay.has(sender, id),
    add: async (entry) => {
      if (await replay.has(entry.sender, entry.messageId)) return false;
      seen = entry;
      return true;
    },
    prune: (before) => replay.prune(before),
  };

  const wire = envelopeFromXml(delivery.sealed, deps.limits.maxDevices + 2);
  const opened = await openWire(wire, {
    me: deps.me,
    prekeys: stagedPrekeys,
    replay: stagedReplay,
    trust: deps.trust,
    ...(deps.newDevices === undefined ? {} : { newDevices: deps.newDevices }),
    ...(deps.vouch === undefined ? {} : { vouch: deps.vouch }),
    as: 'device',
    limits: deps.limits,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  const data = opened.plaintext;
  const who = { sender: opened.sender.jid, recipient: deps.me.jid };
  const stanza = opened.contentType === PROTECTED_STANZA_TYPE ? decodeProtectedStanza(data, who) : undefined;
  const message: ReceivedMessage = {
    messageId: opened.messageId,
    from: opened.sender.jid,
    device: opened.sender.device,
    fingerprint: deps.fingerprintOf(opened.sender.identityKey),
    trust: opened.trust,
    contentType: opened.contentType,
    data,
    sentAt: opened.timestamp,
    storedAt: delivery.storedAt,
    text: () => decoder.decode(data),
    ...fileMethods(opened.contentType, data),
    ...(stanza === undefined ? {} : { stanza }),
  };
  return {
    message,
    commit: () =>
      Promise.all([seen === undefined ? undefined : replay.add(seen), opk === undefined ? undefined : keyring.consumeOneTimePrekey(opk)]),
  };
}

/** Shown fingerprints of the senders' identity keys (a hash each), by key: a batch is mostly one sender. */
export function fingerprintCache(max = 256): (identityKey: Uint8Array) => string {
  const shown = new Map<string, string>();
  return (identityKey) => {
    const k = Buffer.from(identityKey).toString('base64');
    let f = shown.get(k);
    if (f === undefined) {
      if (shown.size >= max) shown.clear();
      shown.set(k, (f = displayFingerprint(identityKey)));
    }
    return f;
  };
}
