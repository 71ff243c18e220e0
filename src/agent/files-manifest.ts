// The sealed file manifest (issue 17, XEP-0448 in spirit): what a file message carries inside its
// sealed, signed payload — name, size, content type, the stream key and header, SHA-256 of the
// plaintext and of the ciphertext, the GET URL. On the recipient, a message with this content type
// gets `file()` (what it is) and `saveTo(path)` (download, check, decrypt, check, then resolve).
import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { AppError, ErrorCode } from '../errors/index.js';
import { fromBase64, STREAM_HEADER_BYTES, STREAM_KEY_BYTES, wipe } from '../keys/index.js';
import { cipherSizeOf, decryptFile, hashFile } from './files-crypto.js';
import { downloadFile, type TransferOptions } from './files-http.js';

export const FILE_MANIFEST_TYPE = 'application/vnd.sealpost.file+json';

export interface FileManifest {
  v: 1;
  name: string;
  size: number;
  contentType: string;
  key: string;
  header: string;
  sha256: string;
  cipherSize: number;
  cipherSha256: string;
  url: string;
}

/** What the application sees of a received file before saving it. */
export interface IncomingFile {
  name: string;
  size: number;
  contentType: string;
  /** SHA-256 of the plaintext, base64 (checked by saveTo). */
  sha256: string;
}

export interface SavedFile extends IncomingFile {
  path: string;
}

export interface FileMethods {
  /** The file this message announces; undefined when it is not a file message. */
  file(): IncomingFile | undefined;
  /**
   * Downloads the file (resuming a partial download at `path`), checks the ciphertext's hash,
   * decrypts, checks the plaintext's hash and size, and only then moves it to `path`. Rejects
   * (nothing at `path`) when any check fails.
   */
  saveTo(path: string, options?: TransferOptions): Promise<SavedFile>;
}

const SHA = /^[A-Za-z0-9+/]{43}=$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

function bad(what: string): AppError {
  return new AppError(ErrorCode.BadInput, `file manifest: ${what}`);
}

export function encodeManifest(m: FileManifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

/** Strict parse of a manifest from a verified message's plaintext. */
export function parseManifest(data: Uint8Array): FileManifest {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    throw bad('not JSON');
  }
  if (typeof v !== 'object' || v === null) throw bad('not an object');
  const o = v as Record<string, unknown>;
  const str = (k: string, max: number): string => {
    const s = o[k];
    if (typeof s !== 'string' || s.length === 0 || s.length > max || CONTROL.test(s)) throw bad(`${k} missing or malformed`);
    return s;
  };
  const uint = (k: string): number => {
    const n = o[k];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`${k} must be a non-negative integer`);
    return n;
  };
  if (o.v !== 1) throw bad('unknown version');
  const m: FileManifest = {
    v: 1,
    name: str('name', 255),
    size: uint('size'),
    contentType: str('contentType', 255),
    key: str('key', 64),
    header: str('header', 64),
    sha256: str('sha256', 44),
    cipherSize: uint('cipherSize'),
    cipherSha256: str('cipherSha256', 44),
    url: str('url', 2048),
  };
  fromBase64('file key', m.key, STREAM_KEY_BYTES);
  fromBase64('file header', m.header, STREAM_HEADER_BYTES);
  if (!SHA.test(m.sha256) || !SHA.test(m.cipherSha256)) throw bad('hashes must be base64 SHA-256');
  if (m.cipherSize !== cipherSizeOf(m.size)) throw bad('cipherSize does not match size');
  if (!/^https?:\/\//.test(m.url)) throw bad('url must be http(s)');
  return m;
}

/** `file()` and `saveTo()` for a received message (inert for messages that are not files). */
export function fileMethods(contentType: string, data: Uint8Array): FileMethods {
  if (contentType !== FILE_MANIFEST_TYPE)
    return {
      file: () => undefined,
      saveTo: () => Promise.reject(new AppError(ErrorCode.BadInput, 'not a file message')),
    };
  let parsed: FileManifest | undefined;
  const manifest = (): FileManifest => (parsed ??= parseManifest(data));
  return {
    file: () => {
      const m = manifest();
      return { name: m.name, size: m.size, contentType: m.contentType, sha256: m.sha256 };
    },
    saveTo: (path, options) => saveFile(manifest(), path, options),
  };
}

async function saveFile(m: FileManifest, path: string, options: TransferOptions = {}): Promise<SavedFile> {
  // The partial ciphertext keeps its name across restarts, so a new attempt continues it.
  const part = `${path}.sealpost-part`;
  await downloadFile(m.url, part, m.cipherSize, options);
  const got = await hashFile(part);
  if (got.size !== m.cipherSize || got.sha256 !== m.cipherSha256) {
    await rm(part, { force: true });
    throw new AppError(ErrorCode.BadSignature, 'file refused: the download does not match the manifest\'s ciphertext hash');
  }
  const tmp = `${path}.${randomBytes(6).toString('hex')}.sealpost-tmp`;
  const key = fromBase64('file key', m.key, STREAM_KEY_BYTES);
  try {
    const plain = await decryptFile(part, key, fromBase64('file header', m.header, STREAM_HEADER_BYTES), tmp);
    if (plain.size !== m.size || plain.sha256 !== m.sha256)
      throw new AppError(ErrorCode.BadSignature, 'file refused: the decrypted file does not match the manifest\'s hash');
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (AppError.is(err, ErrorCode.BadSignature)) await rm(part, { force: true });
    throw err;
  } finally {
    wipe(key);
  }
  await rm(part, { force: true });
  if ((await stat(path)).size !== m.size) throw new AppError(ErrorCode.Internal, 'saved file has the wrong size');
  return { path, name: m.name, size: m.size, contentType: m.contentType, sha256: m.sha256 };
}
