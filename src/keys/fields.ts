// Shape rules for the scalar fields of sp1 (bare JIDs, ids, message ids, content types,
// timestamps), shared by the argument checks (TypeError/RangeError) and the wire parsers
// (AppError BadInput), so both sides agree on what is valid (design.md, invariant 5). What a JID
// is belongs to src/jid (the one normaliser); here only that a field holds one, normalised.
import { AppError, ErrorCode } from '../errors/index.js';
import { parseJid } from '../jid/index.js';
import { utf8 } from './encoding.js';
import { MAX_CONTENT_TYPE_BYTES, MAX_ID, MAX_JID_BYTES, MAX_MESSAGE_ID_CHARS } from './labels.js';

export type Problem = { kind: 'type' | 'range'; text: string } | undefined;

const MESSAGE_ID = /^[A-Za-z0-9._:-]+$/;
const CONTENT_TYPE = /^[\x20-\x7e]+$/;

/**
 * Bare JIDs already found valid: every message names the same few several times (sender, recipient,
 * in the envelope and the signed header), and parsing them was 6% of the recipient's CPU. Only
 * valid ones are kept, at most VALID_JIDS_MAX (then the set starts over), so hostile input cannot
 * grow it.
 */
const validJids = new Set<string>();
const VALID_JIDS_MAX = 1024;

/** A bare JID as sp1 fields carry it: valid for src/jid, already in its normal form, within MAX_JID_BYTES. */
export function jidProblem(value: unknown): Problem {
  if (typeof value !== 'string') return { kind: 'type', text: 'expected a bare JID string' };
  if (validJids.has(value)) return undefined;
  const problem = parsedJidProblem(value);
  if (problem === undefined) {
    if (validJids.size >= VALID_JIDS_MAX) validJids.clear();
    validJids.add(value);
  }
  return problem;
}

function parsedJidProblem(value: string): Problem {
  let jid;
  try {
    jid = parseJid(value);
  } catch (err) {
    return { kind: 'range', text: (err as Error).message };
  }
  if (jid.local === undefined || jid.resource !== undefined) return { kind: 'range', text: 'expected local@domain (a bare JID, no resource)' };
  if (jid.bare !== value) return { kind: 'range', text: 'expected the normalised bare JID (lower case, NFC)' };
  if (utf8(value).length > MAX_JID_BYTES) return { kind: 'range', text: 'JID too long' };
  return undefined;
}

export function idProblem(value: unknown): Problem {
  if (typeof value !== 'number' || !Number.isInteger(value)) return { kind: 'type', text: 'expected an integer id' };
  if (value < 1 || value > MAX_ID) return { kind: 'range', text: `id must be 1..${MAX_ID}` };
  return undefined;
}

/** A string of 1..max characters matching `pattern`; the texts name the field and what it may hold. */
function patternedProblem(value: unknown, what: string, max: number, pattern: RegExp, allowed: string): Problem {
  if (typeof value !== 'string') return { kind: 'type', text: `expected a ${what} string` };
  if (value.length < 1 || value.length > max) return { kind: 'range', text: `${what} must be 1..${max} characters` };
  if (!pattern.test(value)) return { kind: 'range', text: `${what} ${allowed}` };
  return undefined;
}

export function messageIdProblem(value: unknown): Problem {
  return patternedProblem(value, 'message id', MAX_MESSAGE_ID_CHARS, MESSAGE_ID, 'may use only A-Z a-z 0-9 . _ : -');
}

export function contentTypeProblem(value: unknown): Problem {
  return patternedProblem(value, 'content type', MAX_CONTENT_TYPE_BYTES, CONTENT_TYPE, 'must be printable ASCII');
}

export function timestampProblem(value: unknown): Problem {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return { kind: 'type', text: 'expected an integer timestamp (ms)' };
  if (value < 0) return { kind: 'range', text: 'timestamp must not be negative' };
  return undefined;
}

/** Argument check at an API edge: TypeError or RangeError with the label. */
export function arg<T>(label: string, value: T, rule: (v: unknown) => Problem): T {
  const p = rule(value);
  if (p === undefined) return value;
  if (p.kind === 'type') throw new TypeError(`${label}: ${p.text}`);
  throw new RangeError(`${label}: ${p.text}`);
}

/** Check of untrusted input: AppError(BadInput) with the label. */
export function wire<T>(label: string, value: unknown, rule: (v: unknown) => Problem): T {
  const p = rule(value);
  if (p !== undefined) throw new AppError(ErrorCode.BadInput, `${label}: ${p.text}`);
  return value as T;
}

/** Argument check for a byte input of an exact length. */
export function argBytes(label: string, value: unknown, length: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${label}: expected Uint8Array`);
  if (value.length !== length) throw new RangeError(`${label}: expected ${length} bytes, got ${value.length}`);
  return value;
}

/** A plain object (not null, not an array) from untrusted input. */
export function wireObject(label: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new AppError(ErrorCode.BadInput, `${label}: expected an object`);
  return value as Record<string, unknown>;
}

/** Refuses properties outside `allowed`, so nothing unchecked rides along. */
export function wireKeys(label: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(obj))
    if (!allowed.includes(k)) throw new AppError(ErrorCode.BadInput, `${label}: unexpected field "${k.slice(0, 32)}"`);
}
