// One error type for the whole service, with a code enum and a `permanent` flag.
// Workers turn permanent errors into BullMQ's UnrecoverableError; src/protocol/stanza-errors.ts
// maps codes to RFC 6120 §8.3.3 stanza error conditions in one place.

export const ErrorCode = {
  /** Input failed validation: shape, size, base64, count (RFC 6120 bad-request). */
  BadInput: 'bad-input',
  /** A cryptographic check failed: signature, MAC, hash (RFC 6120 not-acceptable). */
  BadSignature: 'bad-signature',
  /** Suite id not supported (RFC 6120 feature-not-implemented). */
  UnknownSuite: 'unknown-suite',
  /** Recipient, device, prekey or archive item unknown (RFC 6120 item-not-found). */
  NotFound: 'not-found',
  /** The stamped sender may not do this (RFC 6120 forbidden). */
  Forbidden: 'forbidden',
  /** Too large or over a quota (RFC 6120 resource-constraint). */
  ResourceLimit: 'resource-limit',
  /** Rate limited or refused by policy (RFC 6120 policy-violation). */
  Policy: 'policy',
  /** Pinned key changed; user must accept before continuing. */
  UntrustedKey: 'untrusted-key',
  /** Expired prekey, timestamp outside window. */
  Expired: 'expired',
  /** A message id already seen (replay). */
  Replay: 'replay',
  /** Wrong at-rest key or passphrase. */
  WrongKey: 'wrong-key',
  /** Stored data failed an integrity check. */
  Corrupt: 'corrupt',
  /** Configuration invalid. */
  Config: 'config',
  /** A dependency (Redis, XMPP server, disk) is unavailable; retry later. */
  Unavailable: 'unavailable',
  /** A timeout waiting for a peer. */
  Timeout: 'timeout',
  /** A bug: an invariant broke. */
  Internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Whether a later attempt can succeed, per code: the one permanence table. Workers do not retry a
 * permanent error (BullMQ's UnrecoverableError); the agent's receiver acknowledges a delivery
 * refused with one (it could never open, so the vault stops sending it). An untrusted key is not
 * permanent: the copy opens once the user accepts the new key, so it waits at the vault.
 */
const PERMANENT: Readonly<Record<ErrorCode, boolean>> = {
  [ErrorCode.BadInput]: true,
  [ErrorCode.BadSignature]: true,
  [ErrorCode.UnknownSuite]: true,
  [ErrorCode.NotFound]: true,
  [ErrorCode.Forbidden]: true,
  [ErrorCode.ResourceLimit]: true,
  [ErrorCode.Policy]: true,
  [ErrorCode.UntrustedKey]: false,
  [ErrorCode.Expired]: true,
  [ErrorCode.Replay]: true,
  [ErrorCode.WrongKey]: true,
  [ErrorCode.Corrupt]: true,
  [ErrorCode.Config]: true,
  [ErrorCode.Unavailable]: false,
  [ErrorCode.Timeout]: false,
  [ErrorCode.Internal]: false,
};

export interface AppErrorOptions {
  cause?: unknown;
  /** Overrides the code's default permanence. */
  permanent?: boolean;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly permanent: boolean;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.permanent = options.permanent ?? PERMANENT[code];
  }

  /** True when `err` is an AppError, optionally with the given code. */
  static is(err: unknown, code?: ErrorCode): err is AppError {
    return err instanceof AppError && (code === undefined || err.code === code);
  }
}
