// Uploaded file blobs (issue 17), kept in the recipient's shard next to its archive:
// `users/<user hash>.files/<slot>.blob` holds the ciphertext exactly as the sender's SDK sealed it
// (crypto_secretstream; the vault never has its key), `<slot>.meta` the slot's record (owner, sender,
// message id, sizes, token hashes), sealed with XChaCha20-Poly1305 under a key derived from the
// archive's name key, so the folder leaks no JID. Shredding the user removes the whole folder.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { aeadOpen, aeadSeal, blake2b, wipe } from '../keys/index.js';

/** A slot's record: what was announced, what has arrived, who may write and read it. */
export interface BlobMeta {
  /** The recipient (bare JID): the blob counts toward its quota and lives in its shard. */
  owner: string;
  /** The uploader (bare JID, as the XMPP server stamped it on the slot request). */
  sender: string;
  /** The id of the manifest message the sender will send: the blob lives as long as that message. */
  messageId: string;
  /** Announced ciphertext size in bytes. */
  size: number;
  /** Bytes on disk whose chunk checksums were verified (a resumed upload continues here). */
  received: number;
  /** Hex BLAKE2b-256 of the PUT and GET tokens (the tokens themselves are not kept). */
  putKey: string;
  getKey: string;
  createdAt: number;
  /** True once the vault saw the manifest's message stored: from then on its absence erases the blob. */
  referenced: boolean;
  complete: boolean;
}

const SLOT = /^[A-Za-z0-9_-]{22}$/;
const HASH = /^[0-9a-f]{64}$/;
const META_LABEL = 'sealpost/v1/archive-blob-meta';

export function isSlotId(v: string): boolean {
  return SLOT.test(v);
}

export function isUserHash(v: string): boolean {
  return HASH.test(v);
}

export class BlobStore {
  private readonly key: Uint8Array;

  constructor(
    private readonly usersDir: string,
    nameKey: Uint8Array,
  ) {
    this.key = blake2b(32, new TextEncoder().encode(META_LABEL), nameKey);
  }

  private dir(hash: string): string {
    if (!isUserHash(hash)) throw new AppError(ErrorCode.BadInput, 'not a user hash');
    return join(this.usersDir, `${hash}.files`);
  }

  private file(hash: string, slot: string, ext: 'blob' | 'meta'): string {
    if (!isSlotId(slot)) throw new AppError(ErrorCode.BadInput, 'not a slot id');
    return join(this.dir(hash), `${slot}.${ext}`);
  }

  /** Path of the slot's ciphertext. */
  dataPath(hash: string, slot: string): string {
    return this.file(hash, slot, 'blob');
  }

  /** Creates the slot: an empty blob and its sealed record. */
  create(hash: string, slot: string, meta: BlobMeta): void {
    mkdirSync(this.dir(hash), { recursive: true, mode: 0o700 });
    closeSync(openSync(this.dataPath(hash, slot), 'wx', 0o600));
    this.write(hash, slot, meta);
  }

  /** The slot's record; undefined when the slot does not exist (or its record does not open). */
  read(hash: string, slot: string): BlobMeta | undefined {
    let box: Buffer;
    try {
      box = readFileSync(this.file(hash, slot, 'meta'));
    } catch {
      return undefined;
    }
    const plain = aeadOpen(this.key, box, new TextEncoder().encode(`${hash}/${slot}`));
    if (plain === undefined) return undefined;
    return JSON.parse(Buffer.from(plain).toString('utf8')) as BlobMeta;
  }

  /** Replaces the record durably (temporary file, fsync, rename). */
  write(hash: string, slot: string, meta: BlobMeta): void {
    const path = this.file(hash, slot, 'meta');
    const box = aeadSeal(this.key, new TextEncoder().encode(JSON.stringify(meta)), new TextEncoder().encode(`${hash}/${slot}`));
    const fd = openSync(`${path}.tmp`, 'w', 0o600);
    try {
      writeSync(fd, box);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${path}.tmp`, path);
  }

  /** Slot ids of one user. */
  list(hash: string): string[] {
    const dir = this.dir(hash);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => n.endsWith('.meta'))
      .map((n) => n.slice(0, -'.meta'.length))
      .filter(isSlotId);
  }

  /** User hashes that have a file folder. */
  users(): string[] {
    return readdirSync(this.usersDir)
      .filter((n) => n.endsWith('.files'))
      .map((n) => n.slice(0, -'.files'.length))
      .filter(isUserHash);
  }

  /** Bytes announced by the user's slots (what counts toward its quota). */
  announcedBytes(hash: string): { slots: number; bytes: number } {
    let bytes = 0;
    const slots = this.list(hash);
    for (const slot of slots) bytes += this.read(hash, slot)?.size ?? 0;
    return { slots: slots.length, bytes };
  }

  /** Bytes of the slot's ciphertext on disk. */
  storedBytes(hash: string, slot: string): number {
    try {
      return statSync(this.dataPath(hash, slot)).size;
    } catch {
      return 0;
    }
  }

  remove(hash: string, slot: string): void {
    rmSync(this.file(hash, slot, 'meta'), { force: true });
    rmSync(`${this.file(hash, slot, 'meta')}.tmp`, { force: true });
    rmSync(this.dataPath(hash, slot), { force: true });
  }

  /** Removes every blob of the user (shredding); returns how many slots went. */
  removeUser(hash: string): number {
    const dir = this.dir(hash);
    if (!existsSync(dir)) return 0;
    const n = this.list(hash).length;
    rmSync(dir, { recursive: true, force: true });
    return n;
  }

  close(): void {
    wipe(this.key);
  }
}
