// One error type for the whole service, with a code enum and a `permanent` flag.
// Workers turn permanent errors into BullMQ's UnrecoverableError; ingest maps codes to
// RFC 6120 §8.3.3 stanza error conditions in one place (src/ingest).

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

/** Codes that no retry can fix. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.BadInput,
  ErrorCode.BadSignature,
  ErrorCode.UnknownSuite,
  ErrorCode.NotFound,
  ErrorCode.Forbidden,
  ErrorCode.ResourceLimit,
  ErrorCode.Policy,
  ErrorCode.UntrustedKey,
  ErrorCode.Expired,
  ErrorCode.Replay,
  ErrorCode.WrongKey,
  ErrorCode.Corrupt,
  ErrorCode.Config,
]);

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
    this.permanent = options.permanent ?? PERMANENT.has(code);
  }

  /** True when `err` is an AppError, optionally with the given code. */
  static is(err: unknown, code?: ErrorCode): err is AppError {
    return err instanceof AppError && (code === undefined || err.code === code);
  }
}
