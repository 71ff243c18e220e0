// A device's published key bundle (suite sp1): IK, signed prekey, one-time prekeys, optional
// archive key (X25519, or X-Wing with its suite named beside it). Strict wire parsing and
// whole-bundle signature verification: one bad signature refuses the bundle (design.md,
// "Cryptographic construction"; invariant 5).
import { AppError, ErrorCode } from '../errors/index.js';
import { archiveParams, checkArchiveSuite } from './archive-suite.js';
import { fromBase64, toBase64 } from './encoding.js';
import { idProblem, jidProblem, timestampProblem, wire, wireKeys, wireObject } from './fields.js';
import { checkSuite, DEFAULT_LIMITS, type Suite } from './labels.js';
import {
  verifyArchiveKey,
  verifyOneTimePrekey,
  verifySignedPrekey,
  withSuite,
  type ArchiveKey,
  type OneTimePrekey,
  type SignedPrekey,
} from './prekeys.js';
import { ED25519_PUBLIC_BYTES, ED25519_SIGNATURE_BYTES, X25519_PUBLIC_BYTES } from './sodium.js';

export interface Bundle {
  readonly suite: Suite;
  readonly jid: string;
  readonly device: number;
  readonly identityKey: Uint8Array;
  readonly signedPrekey: SignedPrekey;
  readonly oneTimePrekeys: readonly OneTimePrekey[];
  readonly archiveKey?: ArchiveKey;
}

declare const verified: unique symbol;
/** A bundle whose every signature verified; only these may be sealed to. */
export type VerifiedBundle = Bundle & { readonly [verified]: true };

export interface PrekeyWire {
  id: number;
  pub: string;
  sig: string;
}

/** JSON- and XML-attribute-friendly form: base64 strings and integers only. */
export interface BundleWire {
  suite: string;
  jid: string;
  device: number;
  ik: string;
  spk: PrekeyWire & { expires: number };
  opks: PrekeyWire[];
  /** `suite` absent: an X25519 key of "sp1". */
  ak?: PrekeyWire & { suite?: string };
}

export function bundleToWire(b: Bundle): BundleWire {
  const pk = (p: { id: number; publicKey: Uint8Array; signature: Uint8Array }): PrekeyWire => ({
    id: p.id,
    pub: toBase64(p.publicKey),
    sig: toBase64(p.signature),
  });
  const out: BundleWire = {
    suite: b.suite,
    jid: b.jid,
    device: b.device,
    ik: toBase64(b.identityKey),
    spk: { ...pk(b.signedPrekey), expires: b.signedPrekey.expires },
    opks: b.oneTimePrekeys.map(pk),
  };
  if (b.archiveKey !== undefined) out.ak = { ...pk(b.archiveKey), ...withSuite(b.archiveKey.suite) };
  return out;
}

export interface BundleOptions {
  /** Most one-time prekeys accepted in one bundle (default 100). */
  maxOpks?: number;
}

function prekeyFromWire(label: string, value: unknown, extra: readonly string[] = [], pubBytes = X25519_PUBLIC_BYTES): OneTimePrekey {
  const o = wireObject(label, value);
  wireKeys(label, o, ['id', 'pub', 'sig', ...extra]);
  return {
    id: wire<number>(`${label}.id`, o.id, idProblem),
    publicKey: fromBase64(`${label}.pub`, o.pub, pubBytes),
    signature: fromBase64(`${label}.sig`, o.sig, ED25519_SIGNATURE_BYTES),
  };
}

/** The archive key: its suite first (unknown: UnknownSuite), then a public key of that suite's size. */
function archiveKeyFromWire(value: unknown): ArchiveKey {
  const suite = checkArchiveSuite(wireObject('bundle.ak', value).suite, 'bundle.ak');
  return { ...prekeyFromWire('bundle.ak', value, ['suite'], archiveParams(suite).publicBytes), ...withSuite(suite) };
}

/** Parses the wire form: every field, length and count; signatures are checked by verifyBundle. */
export function bundleFromWire(value: unknown, options: BundleOptions = {}): Bundle {
  const maxOpks = options.maxOpks ?? DEFAULT_LIMITS.maxOpksPerUpload;
  const o = wireObject('bundle', value);
  const suite = checkSuite(o.suite, 'bundle');
  wireKeys('bundle', o, ['suite', 'jid', 'device', 'ik', 'spk', 'opks', 'ak']);
  const jid = wire<string>('bundle.jid', o.jid, jidProblem);
  const device = wire<number>('bundle.device', o.device, idProblem);
  const identityKey = fromBase64('bundle.ik', o.ik, ED25519_PUBLIC_BYTES);
  const spkObj = wireObject('bundle.spk', o.spk);
  const spk = prekeyFromWire('bundle.spk', spkObj, ['expires']);
  const expires = wire<number>('bundle.spk.expires', spkObj.expires, timestampProblem);
  if (!Array.isArray(o.opks)) throw new AppError(ErrorCode.BadInput, 'bundle.opks: expected an array');
  if (o.opks.length > maxOpks)
    throw new AppError(ErrorCode.ResourceLimit, `bundle.opks: ${o.opks.length} one-time prekeys, at most ${maxOpks} allowed`);
  const opks = (o.opks as unknown[]).map((p, i) => prekeyFromWire(`bundle.opks[${i}]`, p));
  const b: Bundle = {
    suite,
    jid,
    device,
    identityKey,
    signedPrekey: { ...spk, expires },
    oneTimePrekeys: opks,
  };
  return o.ak === undefined ? b : { ...b, archiveKey: archiveKeyFromWire(o.ak) };
}

export interface VerifyBundleOptions extends BundleOptions {
  /** When given, a signed prekey that expired at or before this time refuses the bundle. */
  now?: number;
  /** The bare JID the bundle must belong to (e.g. the server-stamped sender). */
  expectJid?: string;
  expectDevice?: number;
}

/**
 * Checks every signature, id and count of a bundle. Any failure refuses the whole bundle with an
 * AppError naming what failed: BadSignature, BadInput, ResourceLimit, Forbidden, Expired.
 */
export function verifyBundle(b: Bundle, options: VerifyBundleOptions = {}): VerifiedBundle {
  const where = `bundle of ${b.jid} device ${b.device}`;
  checkSuite(b.suite, where);
  const maxOpks = options.maxOpks ?? DEFAULT_LIMITS.maxOpksPerUpload;
  if (options.expectJid !== undefined && b.jid !== options.expectJid)
    throw new AppError(ErrorCode.Forbidden, `${where}: expected a bundle of ${options.expectJid}`);
  if (options.expectDevice !== undefined && b.device !== options.expectDevice)
    throw new AppError(ErrorCode.Forbidden, `${where}: expected device ${options.expectDevice}`);
  if (b.identityKey.length !== ED25519_PUBLIC_BYTES)
    throw new AppError(ErrorCode.BadInput, `${where}: identity key must be ${ED25519_PUBLIC_BYTES} bytes`);
  if (b.oneTimePrekeys.length > maxOpks)
    throw new AppError(ErrorCode.ResourceLimit, `${where}: ${b.oneTimePrekeys.length} one-time prekeys, at most ${maxOpks}`);

  const ids = new Set<number>([b.signedPrekey.id]);
  for (const p of b.oneTimePrekeys) {
    if (ids.has(p.id)) throw new AppError(ErrorCode.BadInput, `${where}: prekey id ${p.id} used twice`);
    ids.add(p.id);
  }

  const bad: string[] = [];
  if (!verifySignedPrekey(b.identityKey, b, b.signedPrekey)) bad.push(`signed prekey ${b.signedPrekey.id}`);
  for (const p of b.oneTimePrekeys) if (!verifyOneTimePrekey(b.identityKey, b, p)) bad.push(`one-time prekey ${p.id}`);
  if (b.archiveKey !== undefined && !verifyArchiveKey(b.identityKey, b, b.archiveKey))
    bad.push(`archive key ${b.archiveKey.id}`);
  if (bad.length > 0)
    throw new AppError(ErrorCode.BadSignature, `${where}: bad signature on ${bad.join(', ')}; the whole bundle is refused`);

  if (options.now !== undefined && b.signedPrekey.expires <= options.now)
    throw new AppError(ErrorCode.Expired, `${where}: signed prekey ${b.signedPrekey.id} expired at ${new Date(b.signedPrekey.expires).toISOString()}`);
  return b as VerifiedBundle;
}

/** bundleFromWire then verifyBundle: what the directory runs on an upload. */
export function decodeBundle(value: unknown, options: VerifyBundleOptions = {}): VerifiedBundle {
  return verifyBundle(bundleFromWire(value, options), options);
}
