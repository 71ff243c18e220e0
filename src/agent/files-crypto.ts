// File encryption for the SDK (issue 17): libsodium's crypto_secretstream_xchacha20poly1305 over
// 64 KiB plaintext chunks (each sealed chunk 64 KiB + 17 bytes, the last tagged FINAL), chosen over
// XEP-0448's AES-256-GCM because it authenticates the chunk order and the end of the stream (a
// dropped, swapped or truncated chunk fails) with the library we already trust, where GCM over a
// file needs our own nonce and framing scheme. Both ways stream through a fixed-size buffer and
// hash with SHA-256 (plaintext and ciphertext) so no file is ever held in memory.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AppError, ErrorCode } from '../errors/index.js';
import { STREAM_ABYTES, streamKey, streamPull, streamPush } from '../keys/index.js';

export const FILE_CHUNK = 64 * 1024;
const WRITE_BATCH = 1024 * 1024;

export interface SealedFile {
  key: Uint8Array;
  header: Uint8Array;
  /** Plaintext bytes and SHA-256 (base64). */
  size: number;
  sha256: string;
  cipherSize: number;
  cipherSha256: string;
}

/** Ciphertext size of a plaintext of `size` bytes. */
export function cipherSizeOf(size: number): number {
  const chunks = Math.max(1, Math.ceil(size / FILE_CHUNK));
  return size + chunks * STREAM_ABYTES;
}

/** Buffers writes into ~1 MiB batches. */
class BatchWriter {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  constructor(private readonly fh: FileHandle) {}
  async write(b: Uint8Array): Promise<void> {
    this.parts.push(b);
    this.bytes += b.length;
    if (this.bytes >= WRITE_BATCH) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const buf = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    await this.fh.write(buf);
  }
}

/** Encrypts `input` into the file at `outPath` (created or replaced, 0600); resolves with its key and hashes. */
export async function encryptToFile(input: Readable, outPath: string, onBytes?: (n: number) => void): Promise<SealedFile> {
  const key = streamKey();
  const pusher = streamPush(key);
  const plainHash = createHash('sha256');
  const cipherHash = createHash('sha256');
  const fh = await open(outPath, 'w', 0o600);
  const out = new BatchWriter(fh);
  let size = 0;
  let cipherSize = 0;
  const acc = Buffer.alloc(FILE_CHUNK);
  let filled = 0;
  const emit = async (final: boolean): Promise<void> => {
    const ct = pusher.push(acc.subarray(0, filled), final);
    cipherHash.update(ct);
    cipherSize += ct.length;
    filled = 0;
    await out.write(ct);
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      plainHash.update(buf);
      size += buf.length;
      for (let at = 0; at < buf.length; ) {
        if (filled === FILE_CHUNK) await emit(false); // a full chunk is sealed once more data follows
        const n = Math.min(FILE_CHUNK - filled, buf.length - at);
        buf.copy(acc, filled, at, at + n);
        filled += n;
        at += n;
      }
      onBytes?.(size);
    }
    await emit(true);
    await out.flush();
    await fh.sync();
  } finally {
    await fh.close();
    acc.fill(0);
  }
  return { key, header: pusher.header, size, sha256: plainHash.digest('base64'), cipherSize, cipherSha256: cipherHash.digest('base64') };
}

/** SHA-256 (base64) and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: WRITE_BATCH }) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: h.digest('base64') };
}

/**
 * Decrypts the ciphertext file at `inPath` into `outPath`; resolves with the plaintext's size and
 * SHA-256. Corrupt (never partial success) when a chunk does not authenticate, the stream ends
 * without its FINAL chunk, or bytes follow it.
 */
export async function decryptFile(inPath: string, key: Uint8Array, header: Uint8Array, outPath: string): Promise<{ size: number; sha256: string }> {
  const puller = streamPull(key, header);
  const hash = createHash('sha256');
  const fh = await open(outPath, 'w', 0o600);
  const out = new BatchWriter(fh);
  const sealed = FILE_CHUNK + STREAM_ABYTES;
  let pending: Buffer = Buffer.alloc(0);
  let size = 0;
  let ended = false;
  const corrupt = (what: string): AppError => new AppError(ErrorCode.BadSignature, `file refused: ${what}`);
  const take = async (chunk: Buffer): Promise<void> => {
    if (ended) throw corrupt('bytes after the final chunk');
    const r = puller.pull(chunk);
    if (r === undefined) throw corrupt('a chunk does not authenticate (tampered or from another file)');
    hash.update(r.message);
    size += r.message.length;
    ended = r.final;
    await out.write(r.message);
  };
  try {
    for await (const chunk of createReadStream(inPath, { highWaterMark: WRITE_BATCH }) as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      // Keep the last sealed chunk back until the input ends: it may be the (full-size) final one.
      while (pending.length - at > sealed) {
        await take(pending.subarray(at, at + sealed));
        at += sealed;
      }
      pending = pending.subarray(at);
    }
    if (pending.length > 0) await take(pending);
    if (!ended) throw corrupt('the stream is truncated (no final chunk)');
    await out.flush();
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { size, sha256: hash.digest('base64') };
}
