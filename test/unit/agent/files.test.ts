// The SDK's file pieces without a network (issue 17): secretstream sealing round-trips at every
// chunk boundary with the sizes and hashes the manifest states; a truncated, extended or reordered
// ciphertext is refused; the manifest parser refuses inconsistent fields; the CLI's file names stay
// inside their folder.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cipherSizeOf, decryptFile, encryptToFile, FILE_CHUNK } from '../../../src/agent/files-crypto.js';
import { encodeManifest, parseManifest, type FileManifest } from '../../../src/agent/files-manifest.js';
import { safeFileName } from '../../../src/cli/files.js';
import { initSodium, STREAM_ABYTES, toBase64 } from '../../../src/keys/index.js';

let dir: string;
beforeAll(async () => {
  await initSodium();
  dir = mkdtempSync(join(tmpdir(), 'sealpost-files-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('base64');

/** Feeds `data` in pieces of random sizes, as a file or socket would. */
function pieces(data: Buffer): Readable {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const n = 1 + Math.floor(Math.random() * 100_000);
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return Readable.from(out);
}

describe('file sealing (crypto_secretstream_xchacha20poly1305)', () => {
  for (const size of [0, 1, FILE_CHUNK - 1, FILE_CHUNK, FILE_CHUNK + 1, 3 * FILE_CHUNK, 3 * FILE_CHUNK + 12_345]) {
    it(`round-trips ${size} bytes with the stated sizes and hashes`, async () => {
      const plain = randomBytes(size);
      const sealed = await encryptToFile(pieces(plain), join(dir, `c${size}`));
      const cipher = readFileSync(join(dir, `c${size}`));
      expect(sealed).toMatchObject({ size, sha256: sha(plain), cipherSize: cipher.length, cipherSha256: sha(cipher) });
      expect(cipher.length).toBe(cipherSizeOf(size));
      const out = await decryptFile(join(dir, `c${size}`), sealed.key, sealed.header, join(dir, `p${size}`));
      expect(out).toEqual({ size, sha256: sha(plain) });
      expect(readFileSync(join(dir, `p${size}`)).equals(plain)).toBe(true);
    });
  }

  it('refuses a stream cut at a chunk boundary, one with bytes after its end, one with two chunks swapped, and one opened with another key', async () => {
    const plain = randomBytes(3 * FILE_CHUNK + 100);
    const sealed = await encryptToFile(Readable.from([plain]), join(dir, 'c'));
    const cipher = readFileSync(join(dir, 'c'));
    const sealedChunk = FILE_CHUNK + STREAM_ABYTES;
    const attempt = async (bytes: Buffer, key = sealed.key): Promise<string> => {
      writeFileSync(join(dir, 'bad'), bytes);
      return decryptFile(join(dir, 'bad'), key, sealed.header, join(dir, 'out')).then(() => 'opened', (e: Error) => e.message);
    };
    expect(await attempt(cipher.subarray(0, 2 * sealedChunk))).toMatch(/truncated/);
    expect(await attempt(Buffer.concat([cipher, cipher.subarray(0, 40)]))).toMatch(/after the final chunk|does not authenticate/);
    const swapped = Buffer.concat([cipher.subarray(sealedChunk, 2 * sealedChunk), cipher.subarray(0, sealedChunk), cipher.subarray(2 * sealedChunk)]);
    expect(await attempt(swapped)).toMatch(/does not authenticate/);
    expect(await attempt(cipher, new Uint8Array(32))).toMatch(/does not authenticate/);
    expect(await attempt(cipher)).toBe('opened');
  });
});

describe('file manifest', () => {
  const good: FileManifest = {
    v: 1,
    name: 'ecg.bin',
    size: 100,
    contentType: 'application/octet-stream',
    key: toBase64(new Uint8Array(32).fill(1)),
    header: toBase64(new Uint8Array(24).fill(2)),
    sha256: sha(Buffer.from('a')),
    cipherSize: cipherSizeOf(100),
    cipherSha256: sha(Buffer.from('b')),
    url: 'https://vault.example/files/x/y/z',
  };

  it('parses what encodeManifest wrote', () => {
    expect(parseManifest(encodeManifest(good))).toEqual(good);
  });

  it.each([
    ['a cipher size that does not follow from the size', { cipherSize: 100 }],
    ['a non-http URL', { url: 'file:///etc/passwd' }],
    ['a control character in the name', { name: 'a\nb' }],
    ['a short key', { key: toBase64(new Uint8Array(16)) }],
    ['a negative size', { size: -1 }],
    ['another version', { v: 2 }],
    ['a hash that is not SHA-256', { sha256: 'abc=' }],
  ])('refuses %s', (_what, patch) => {
    expect(() => parseManifest(encodeManifest({ ...good, ...patch } as FileManifest))).toThrow(/manifest|file key/);
  });
});

describe('saved file names', () => {
  it('keep every name inside the folder', () => {
    const root = resolve(dir);
    for (const name of ['../../../etc/passwd', '..', '.', '/abs/path.txt', 'a\\..\\b.txt', '.hidden', '', 'x\u0000y', 'ok.txt']) {
      const path = safeFileName(dir, name, 'mid12345678901234');
      expect(path.startsWith(root + sep)).toBe(true);
      expect(path.slice(root.length + 1)).not.toMatch(/[/\\]|^\.|\u0000/);
    }
    expect(safeFileName(dir, '../x/report.pdf', 'm')).toBe(join(root, 'report.pdf'));
    writeFileSync(join(dir, 'taken.bin'), 'x');
    expect(safeFileName(dir, 'taken.bin', 'AbCdEfGhIjKlMn')).toBe(join(root, 'AbCdEfGhIjKl-taken.bin'));
  });
});
