// Suite id, domain labels and default limits of suite sp1 (design.md, "Cryptographic construction"
// and "Limits"). Every signature and KDF input starts with one of these labels, so a signature made
// for one purpose can never be replayed as another.
import { AppError, ErrorCode } from '../errors/index.js';

export const SUITE = 'sp1';
export type Suite = typeof SUITE;

/** Domain labels; the first length-prefixed field of every signed or derived input. */
export const LABEL = Object.freeze({
  header: 'sealpost/v1/header',
  messageSig: 'sealpost/v1/message-sig',
  spkSig: 'sealpost/v1/spk',
  opkSig: 'sealpost/v1/opk',
  akSig: 'sealpost/v1/ak',
  keystoreEnc: 'sealpost/v1/keystore-enc',
  keystoreCheck: 'sealpost/v1/keystore-check',
  countersign: 'sealpost/v1/countersign',
});

/** Refuses anything but sp1 with ErrorCode.UnknownSuite. */
export function checkSuite(value: unknown, where: string): Suite {
  if (value === SUITE) return SUITE;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 32)) : typeof value;
  throw new AppError(
    ErrorCode.UnknownSuite,
    `${where}: unknown suite ${shown}; this build supports only "${SUITE}"`,
  );
}

export interface Limits {
  /** Largest plaintext payload; the sealed payload adds 40 bytes (nonce and tag). */
  readonly maxPayloadBytes: number;
  /** Recipient devices per message (key blocks other than archive blocks). */
  readonly maxDevices: number;
  /** One-time prekeys in one bundle upload. */
  readonly maxOpksPerUpload: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxPayloadBytes: 192 * 1024,
  maxDevices: 32,
  maxOpksPerUpload: 100,
});

/** Hard ceilings that no configuration may exceed (they bound memory per stanza). */
const CEILING: Limits = Object.freeze({
  maxPayloadBytes: 16 * 1024 * 1024,
  maxDevices: 256,
  maxOpksPerUpload: 1000,
});

/** Merges overrides into the defaults, checking each is a positive integer under its ceiling. */
export function resolveLimits(overrides?: Partial<Limits>): Limits {
  if (overrides === undefined) return DEFAULT_LIMITS;
  const out = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const v = overrides[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`limits.${name}: expected an integer`);
    if (v < 1 || v > CEILING[name]) throw new RangeError(`limits.${name}: must be 1..${CEILING[name]}, got ${v}`);
    out[name] = v;
  }
  return Object.freeze(out);
}

/** Bytes of sealed payload for a plaintext: XChaCha20-Poly1305 nonce (24) and tag (16). */
export const PAYLOAD_OVERHEAD = 40;
/** Largest UTF-8 length of a bare JID: localpart and domainpart are each at most 1023 bytes. */
export const MAX_JID_BYTES = 2047;
export const MAX_MESSAGE_ID_CHARS = 64;
export const MAX_CONTENT_TYPE_BYTES = 128;
/** Ids of devices and prekeys: 31-bit, non-zero. */
export const MAX_ID = 0x7fffffff;
