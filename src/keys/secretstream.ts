// Chunked file encryption (issue 17): libsodium's crypto_secretstream_xchacha20poly1305 through the
// selected backend of ./sodium.ts (the one module that loads libsodium), native or WebAssembly.
import { checkLength } from './backend.js';
import { backend, randomBytes } from './sodium.js';

// Chunked authenticated encryption for files: each chunk is sealed under a running state, so chunks
// cannot be reordered, dropped or swapped between files, and the last one carries TAG_FINAL, so a
// truncated stream is detected (libsodium docs, "Encrypted streams and file encryption").

export const STREAM_KEY_BYTES = 32;
export const STREAM_HEADER_BYTES = 24;
/** Bytes a sealed chunk adds to its plaintext (tag byte and MAC). */
export const STREAM_ABYTES = 17;

/** One direction of a secret stream; `final` is true on the chunk that ends it. */
export interface StreamPusher {
  readonly header: Uint8Array;
  push(chunk: Uint8Array, final: boolean): Uint8Array;
}

export interface StreamPuller {
  /** The chunk's plaintext and whether it ended the stream; undefined when it does not authenticate. */
  pull(chunk: Uint8Array): { message: Uint8Array; final: boolean } | undefined;
}

/** A fresh random key for one file. */
export function streamKey(): Uint8Array {
  return randomBytes(STREAM_KEY_BYTES);
}

export function streamPush(key: Uint8Array): StreamPusher {
  checkLength('stream key', key, STREAM_KEY_BYTES);
  return backend().streamPush(key);
}

export function streamPull(key: Uint8Array, header: Uint8Array): StreamPuller {
  checkLength('stream key', key, STREAM_KEY_BYTES);
  checkLength('stream header', header, STREAM_HEADER_BYTES);
  const pull = backend().streamPull(key, header);
  return { pull: (chunk) => (chunk.length < STREAM_ABYTES ? undefined : pull(chunk)) };
}

