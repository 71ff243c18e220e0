// The signed device announcement an agent puts in its presence to the vault (design.md "XMPP
// surfaces": agents advertise support, device id and IK fingerprint in presence, signed). The IK
// signs label ‖ suite ‖ jid ‖ device ‖ fingerprint ‖ timestamp ‖ resource, length-prefixed like
// every sp1 signature; the resource binds it to one session, the timestamp bounds its replay.
import { ByteWriter, fromBase64, toBase64 } from './encoding.js';
import { arg, idProblem, jidProblem, timestampProblem, wire, wireKeys, wireObject } from './fields.js';
import { fingerprint, type DeviceIdentity } from './identity.js';
import { SUITE } from './labels.js';
import { constantTimeEqual, ed25519Sign, ed25519Verify, ED25519_SIGNATURE_BYTES, HASH_BYTES } from './sodium.js';

export const ANNOUNCE_LABEL = 'sealpost/v1/presence';
/** Default accepted distance between the announcement's timestamp and the verifier's clock. */
export const ANNOUNCE_MAX_SKEW_MS = 10 * 60 * 1000;
/** RFC 7622 §3.4: a resourcepart is at most 1023 bytes. */
const MAX_RESOURCE_BYTES = 1023;

export interface Announcement {
  /** Bare JID of the agent (the verifier uses the JID the XMPP server stamped). */
  readonly jid: string;
  readonly device: number;
  /** BLAKE2b-256 of the device's identity key. */
  readonly fingerprint: Uint8Array;
  /** ms since the epoch, the signer's clock. */
  readonly timestamp: number;
  /** The resource of the session that sends the presence. */
  readonly resource: string;
}

/** What travels in the presence: device, fingerprint, timestamp, signature (JID and resource are stamped). */
export interface AnnouncementWire {
  device: number;
  fp: string;
  ts: number;
  sig: string;
}

function checkResource(resource: unknown): string {
  if (typeof resource !== 'string') throw new TypeError('resource: expected a string');
  const n = Buffer.byteLength(resource, 'utf8');
  if (n === 0 || n > MAX_RESOURCE_BYTES) throw new RangeError(`resource: expected 1..${MAX_RESOURCE_BYTES} bytes`);
  return resource;
}

/** The exact bytes signed by the identity key. */
export function announcementBytes(a: Announcement): Uint8Array {
  arg('jid', a.jid, jidProblem);
  arg('device', a.device, idProblem);
  arg('timestamp', a.timestamp, timestampProblem);
  if (!(a.fingerprint instanceof Uint8Array) || a.fingerprint.length !== HASH_BYTES)
    throw new RangeError(`fingerprint: expected ${HASH_BYTES} bytes`);
  return new ByteWriter()
    .str(ANNOUNCE_LABEL)
    .str(SUITE)
    .str(a.jid)
    .u32(a.device)
    .bytes(a.fingerprint)
    .u64(a.timestamp)
    .str(checkResource(a.resource))
    .finish();
}

/** Signs an announcement of `identity` for the session `resource` at `timestamp`. */
export function signAnnouncement(identity: DeviceIdentity, resource: string, timestamp: number): AnnouncementWire {
  const fp = fingerprint(identity.publicKey);
  const bytes = announcementBytes({ jid: identity.jid, device: identity.device, fingerprint: fp, timestamp, resource });
  return { device: identity.device, fp: toBase64(fp), ts: timestamp, sig: toBase64(ed25519Sign(bytes, identity.secretKey)) };
}

/** Strict parse of the wire form; AppError(BadInput) naming the bad field. */
export function announcementFromWire(value: unknown): { device: number; fingerprint: Uint8Array; timestamp: number; signature: Uint8Array } {
  const o = wireObject('announcement', value);
  wireKeys('announcement', o, ['device', 'fp', 'ts', 'sig']);
  return {
    device: wire<number>('announcement.device', o.device, idProblem),
    fingerprint: fromBase64('announcement.fp', o.fp, HASH_BYTES),
    timestamp: wire<number>('announcement.ts', o.ts, timestampProblem),
    signature: fromBase64('announcement.sig', o.sig, ED25519_SIGNATURE_BYTES),
  };
}

export type AnnouncementCheck =
  | { readonly ok: true; readonly device: number; readonly timestamp: number }
  | {
      readonly ok: false;
      /** unknown-device: nothing published for it (yet); the others mean a forged or replayed announcement. */
      readonly reason: 'malformed' | 'unknown-device' | 'fingerprint' | 'signature' | 'stale';
      readonly text: string;
    };

export interface VerifyAnnouncementInput {
  /** The stamped bare JID and resource of the presence. */
  jid: string;
  resource: string;
  wire: unknown;
  /** The identity key the directory holds for (jid, device); undefined when none is published. */
  identityKeyOf: (device: number) => Uint8Array | undefined;
  now: number;
  maxSkewMs?: number;
}

/**
 * Checks an announcement against the directory's identity key: fingerprint, signature over the
 * stamped JID and resource, freshness. Never throws on hostile input; says why it refused.
 */
export function verifyAnnouncement(input: VerifyAnnouncementInput): AnnouncementCheck {
  let parsed: ReturnType<typeof announcementFromWire>;
  try {
    parsed = announcementFromWire(input.wire);
  } catch (err) {
    return { ok: false, reason: 'malformed', text: err instanceof Error ? err.message : 'malformed announcement' };
  }
  const ik = input.identityKeyOf(parsed.device);
  if (ik === undefined) return { ok: false, reason: 'unknown-device', text: `device ${parsed.device} has no published identity key` };
  if (!constantTimeEqual(fingerprint(ik), parsed.fingerprint))
    return { ok: false, reason: 'fingerprint', text: `device ${parsed.device}: fingerprint is not the published identity key's` };
  let bytes: Uint8Array;
  try {
    bytes = announcementBytes({ jid: input.jid, device: parsed.device, fingerprint: parsed.fingerprint, timestamp: parsed.timestamp, resource: input.resource });
  } catch (err) {
    return { ok: false, reason: 'malformed', text: err instanceof Error ? err.message : 'malformed announcement' };
  }
  if (!ed25519Verify(parsed.signature, bytes, ik))
    return { ok: false, reason: 'signature', text: `device ${parsed.device}: signature does not verify` };
  const skew = input.maxSkewMs ?? ANNOUNCE_MAX_SKEW_MS;
  if (Math.abs(input.now - parsed.timestamp) > skew)
    return { ok: false, reason: 'stale', text: `device ${parsed.device}: timestamp outside ±${skew} ms` };
  return { ok: true, device: parsed.device, timestamp: parsed.timestamp };
}
