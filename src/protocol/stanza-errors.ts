// The one place where AppError codes become RFC 6120 §8.3 stanza errors (condition and type),
// and back again on the client side.
import { AppError, ErrorCode } from '../errors/index.js';
import type { StanzaErrorType } from '../xmpp/index.js';

export interface StanzaErrorSpec {
  condition: string;
  type: StanzaErrorType;
  text: string;
}

const BY_CODE: Record<ErrorCode, { condition: string; type: StanzaErrorType }> = {
  [ErrorCode.BadInput]: { condition: 'bad-request', type: 'modify' },
  [ErrorCode.BadSignature]: { condition: 'not-acceptable', type: 'modify' },
  [ErrorCode.UnknownSuite]: { condition: 'feature-not-implemented', type: 'cancel' },
  [ErrorCode.NotFound]: { condition: 'item-not-found', type: 'cancel' },
  [ErrorCode.Forbidden]: { condition: 'forbidden', type: 'auth' },
  [ErrorCode.ResourceLimit]: { condition: 'resource-constraint', type: 'wait' },
  [ErrorCode.Policy]: { condition: 'policy-violation', type: 'wait' },
  [ErrorCode.UntrustedKey]: { condition: 'not-acceptable', type: 'cancel' },
  [ErrorCode.Expired]: { condition: 'not-acceptable', type: 'modify' },
  [ErrorCode.Replay]: { condition: 'conflict', type: 'cancel' },
  [ErrorCode.WrongKey]: { condition: 'not-authorized', type: 'auth' },
  [ErrorCode.Corrupt]: { condition: 'internal-server-error', type: 'cancel' },
  [ErrorCode.Config]: { condition: 'internal-server-error', type: 'cancel' },
  [ErrorCode.Unavailable]: { condition: 'service-unavailable', type: 'wait' },
  [ErrorCode.Timeout]: { condition: 'remote-server-timeout', type: 'wait' },
  [ErrorCode.Internal]: { condition: 'internal-server-error', type: 'wait' },
};

/**
 * Maps any thrown value to a stanza error. Only AppError messages reach the peer; anything else
 * is an internal error with a generic text, so no internal detail leaks.
 */
export function toStanzaError(err: unknown): StanzaErrorSpec {
  if (AppError.is(err)) return { ...BY_CODE[err.code], text: err.message };
  return { condition: 'internal-server-error', type: 'wait', text: 'internal error' };
}

const BY_CONDITION: Record<string, ErrorCode> = {
  'bad-request': ErrorCode.BadInput,
  'not-acceptable': ErrorCode.BadSignature,
  'feature-not-implemented': ErrorCode.UnknownSuite,
  'item-not-found': ErrorCode.NotFound,
  forbidden: ErrorCode.Forbidden,
  'not-authorized': ErrorCode.Forbidden,
  'resource-constraint': ErrorCode.ResourceLimit,
  'policy-violation': ErrorCode.Policy,
  conflict: ErrorCode.Replay,
  'service-unavailable': ErrorCode.Unavailable,
  'remote-server-timeout': ErrorCode.Timeout,
};

/** Client side: a received stanza error as an AppError that keeps the condition and text. */
export function fromStanzaError(condition: string, text: string | undefined): AppError {
  const code = BY_CONDITION[condition] ?? ErrorCode.Internal;
  const error = new AppError(code, `${condition}${text ? `: ${text}` : ''}`);
  return Object.assign(error, { condition });
}
