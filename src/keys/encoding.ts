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

/** Builds length-prefixed byte strings. */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];

  /** A length-prefixed byte field. */
  bytes(value: Uint8Array): this {
    this.u32(value.length);
    this.parts.push(value);
    return this;
  }

  /** A length-prefixed UTF-8 string field. */
  str(value: string): this {
    return this.bytes(utf8(value));
  }

  u8(value: number): this {
    this.parts.push(Uint8Array.of(value & 0xff));
    return this;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new RangeError(`u32: out of range: ${value}`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value);
    this.parts.push(b);
    return this;
  }

  /** A non-negative safe integer (timestamps in ms) as 8 bytes big-endian. */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`u64: out of range: ${value}`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(value));
    this.parts.push(b);
    return this;
  }

  /** Raw bytes without a prefix (fixed-size fields only). */
  raw(value: Uint8Array): this {
    this.parts.push(value);
    return this;
  }

  finish(): Uint8Array {
    return concatBytes(...this.parts);
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

function isB64Char(c: number): boolean {
  return (
    (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47
  );
}

/** Characters of padded base64 for n bytes. */
export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/**
 * Strict canonical base64 (RFC 4648 §4, padded, no whitespace, zero pad bits); the decoded
 * length must lie in [min, max]. The string length is checked before any decoding work.
 */
export function fromBase64(label: string, value: unknown, min: number, max: number = min): Uint8Array {
  const bad = (problem: string): never => {
    throw new AppError(ErrorCode.BadInput, `${label}: ${problem}`);
  };
  if (typeof value !== 'string') return bad('expected a base64 string');
  if (value.length > base64Length(max)) return bad(`too long (more than ${max} bytes)`);
  if (value.length % 4 !== 0) return bad('base64 length not a multiple of 4');
  let pad = 0;
  if (value.endsWith('==')) pad = 2;
  else if (value.endsWith('=')) pad = 1;
  for (let i = 0; i < value.length - pad; i++)
    if (!isB64Char(value.charCodeAt(i))) return bad(`invalid base64 character at ${i}`);
  const buf = Buffer.from(value, 'base64');
  if (buf.toString('base64') !== value) return bad('non-canonical base64');
  if (buf.length < min || buf.length > max)
    return bad(min === max ? `expected ${min} bytes, got ${buf.length}` : `length ${buf.length} not in ${min}..${max}`);
  return new Uint8Array(buf); // a copy outside Buffer's shared pool, so wipe() touches only it
}
