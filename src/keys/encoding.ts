// Byte-level encodings for suite sp1: length-prefixed fields (u32 big-endian length ‖ bytes) for
// every signed, derived or sealed structure, and strict canonical base64 for the wire form
// (design.md, "Cryptographic construction": domain label first, length-prefixed fields).
import { AppError, ErrorCode } from '../errors/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Strict UTF-8 decode; malformed input is an AppError(BadInput). */
export function fromUtf8(label: string, bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new AppError(ErrorCode.BadInput, `${label}: invalid UTF-8`, { cause });
  }
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Builds length-prefixed byte strings in one growing buffer (headers, signed inputs and the key
 * store's state are written per message: no allocation per field).
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf.fill(0); // the old buffer may hold secrets (key store state)
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** A length-prefixed byte field. */
  bytes(value: Uint8Array): this {
    this.u32(value.length);
    return this.raw(value);
  }

  /** A length-prefixed UTF-8 string field. */
  str(value: string): this {
    // At most 3 bytes per UTF-16 unit; encodeInto writes in place after the 4-byte length.
    this.room(4 + value.length * 3);
    const { written } = encoder.encodeInto(value, this.buf.subarray(this.at + 4));
    this.view.setUint32(this.at, written);
    this.at += 4 + written;
    return this;
  }

  u8(value: number): this {
    this.room(1);
    this.buf[this.at++] = value & 0xff;
    return this;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new RangeError(`u32: out of range: ${value}`);
    this.room(4);
    this.view.setUint32(this.at, value);
    this.at += 4;
    return this;
  }

  /** A non-negative safe integer (timestamps in ms) as 8 bytes big-endian. */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`u64: out of range: ${value}`);
    this.room(8);
    this.view.setUint32(this.at, Math.floor(value / 0x1_0000_0000));
    this.view.setUint32(this.at + 4, value >>> 0);
    this.at += 8;
    return this;
  }

  /** Raw bytes without a prefix (fixed-size fields only). */
  raw(value: Uint8Array): this {
    this.room(value.length);
    this.buf.set(value, this.at);
    this.at += value.length;
    return this;
  }

  /** The bytes written so far, without a copy (valid until the next write). */
  written(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }

  /** The bytes written (a copy); the writer's own buffer is wiped. */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.at);
    this.buf.fill(0, 0, this.at);
    return out;
  }
}

/** Reads what ByteWriter wrote; every failure is an AppError(BadInput) naming the field. */
export class ByteReader {
  private at = 0;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private fail(field: string, problem: string): never {
    throw new AppError(ErrorCode.BadInput, `${this.what}: ${field}: ${problem}`);
  }

  private need(field: string, n: number): void {
    if (this.buf.length - this.at < n) this.fail(field, 'truncated');
  }

  u8(field: string): number {
    this.need(field, 1);
    return this.buf[this.at++] ?? 0;
  }

  u32(field: string): number {
    this.need(field, 4);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }

  u64(field: string): number {
    this.need(field, 8);
    const v = this.view.getBigUint64(this.at);
    this.at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(field, 'out of range');
    return Number(v);
  }

  /** A length-prefixed field whose length must lie in [min, max]; returns a copy. */
  bytes(field: string, min: number, max: number = min): Uint8Array {
    const n = this.u32(field);
    if (n < min || n > max)
      this.fail(field, min === max ? `expected ${min} bytes, got ${n}` : `length ${n} not in ${min}..${max}`);
    return this.raw(field, n);
  }

  str(field: string, minBytes: number, maxBytes: number): string {
    return fromUtf8(`${this.what}: ${field}`, this.bytes(field, minBytes, maxBytes));
  }

  /** Fixed-size bytes without a prefix; returns a copy. */
  raw(field: string, n: number): Uint8Array {
    this.need(field, n);
    const out = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** Everything not read yet; returns a copy. */
  rest(): Uint8Array {
    const out = this.buf.slice(this.at);
    this.at = this.buf.length;
    return out;
  }

  /** Refuses trailing bytes: each structure has exactly one encoding. */
  end(): void {
    if (this.at !== this.buf.length) this.fail('end', `${this.buf.length - this.at} trailing bytes`);
  }
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Padded standard base64: data characters, then at most two '=' (length checked apart). */
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64_VALUE = (c: number): number =>
  c >= 97 ? c - 71 : c >= 65 ? c - 65 : c >= 48 ? c + 4 : c === 43 ? 62 : 63;

/** Characters of padded base64 for n bytes. */
export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/**
 * Checks strict canonical base64 (RFC 4648 §4, padded, no whitespace, zero pad bits) without
 * decoding it; returns the decoded length, which must lie in [min, max]. The string length is
 * checked before any scan. A server that only forwards the bytes checks with this and decodes once,
 * where it keeps them (issue 16).
 */
export function base64Bytes(label: string, value: unknown, min: number, max: number = min): number {
  const bad = (problem: string): never => {
    throw new AppError(ErrorCode.BadInput, `${label}: ${problem}`);
  };
  if (typeof value !== 'string') return bad('expected a base64 string');
  if (value.length > base64Length(max)) return bad(`too long (more than ${max} bytes)`);
  if (value.length % 4 !== 0) return bad('base64 length not a multiple of 4');
  if (!B64.test(value)) {
    const at = value.search(/[^A-Za-z0-9+/=]|=[^=]|=.*=[^=]/);
    return bad(`invalid base64 character at ${at < 0 ? value.indexOf('=') : at}`);
  }
  const pad = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  // Canonical: the bits the padding leaves over in the last data character are zero.
  if (pad > 0 && (B64_VALUE(value.charCodeAt(value.length - pad - 1)) & (pad === 1 ? 0b11 : 0b1111)) !== 0)
    return bad('non-canonical base64');
  const n = (value.length / 4) * 3 - pad;
  if (n < min || n > max) return bad(min === max ? `expected ${min} bytes, got ${n}` : `length ${n} not in ${min}..${max}`);
  return n;
}

/** Decodes `n` bytes of base64 checked by base64Bytes into memory of its own (outside Buffer's pool, so wipe() touches only it). */
function decodeChecked(value: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  Buffer.from(out.buffer, out.byteOffset, n).write(value, 'base64');
  return out;
}

/** Strict canonical base64 (base64Bytes' rules), decoded; the decoded length must lie in [min, max]. */
export function fromBase64(label: string, value: unknown, min: number, max: number = min): Uint8Array {
  return decodeChecked(value as string, base64Bytes(label, value, min, max));
}
