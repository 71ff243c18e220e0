// The agent's encrypted key store on disk (issue 3): one file, mode 0600, XChaCha20-Poly1305
// under a key derived with Argon2id (crypto_pwhash) from a passphrase, or under a raw 32-byte key.
// The derived key stays in memory while the file is open so saves need no new derivation.
import { readFile } from 'node:fs/promises';
import { AppError, ErrorCode } from '../errors/index.js';
import { ByteReader, ByteWriter, concatBytes, utf8 } from './encoding.js';
import { atomicWriteFile, checkOwnerOnly } from './fsutil.js';
import { LABEL } from './labels.js';
import { AEAD_KEY_BYTES, aeadOpen, aeadSeal, argon2id, blake2b, constantTimeEqual, pwhashMinimum, pwhashModerate, PWHASH_SALT_BYTES, randomBytes, wipe, type PwhashLimits } from './sodium.js';

/** A passphrase (Argon2id, moderate limits unless given) or a raw 32-byte key. */
export type KeyStoreSecret = { passphrase: string | Uint8Array; limits?: PwhashLimits } | { key: Uint8Array };

const MAGIC = utf8('SPKS');
const FORMAT = 1;
const KDF_ARGON2ID = 1;
const KDF_RAW = 2;
const CHECK_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1 + 1 + 4 + 4 + PWHASH_SALT_BYTES;
/** Refuse files that ask for absurd work (a crafted header must not hang or exhaust the agent). */
const MAX_OPS = 20;
const MAX_MEM_KIB = 2 * 1024 * 1024;

interface Params {
  kdf: number;
  limits: PwhashLimits;
  salt: Uint8Array;
}

function encodeHeader(p: Params): Uint8Array {
  return new ByteWriter()
    .raw(MAGIC)
    .u8(FORMAT)
    .u8(p.kdf)
    .u32(p.limits.opsLimit)
    .u32(Math.floor(p.limits.memLimit / 1024))
    .raw(p.salt)
    .finish();
}

function decodeHeader(bytes: Uint8Array, path: string): Params {
  const r = new ByteReader(bytes.subarray(0, HEADER_BYTES), `key store ${path}`);
  if (bytes.length < HEADER_BYTES || !constantTimeEqual(r.raw('magic', MAGIC.length), MAGIC))
    throw new AppError(ErrorCode.Corrupt, `${path} is not a sealpost key store`);
  const format = r.u8('format');
  if (format !== FORMAT) throw new AppError(ErrorCode.Corrupt, `${path}: unsupported key store format ${format}`);
  const kdf = r.u8('kdf');
  const opsLimit = r.u32('opslimit');
  const memKib = r.u32('memlimit');
  const salt = r.raw('salt', PWHASH_SALT_BYTES);
  if (kdf !== KDF_ARGON2ID && kdf !== KDF_RAW) throw new AppError(ErrorCode.Corrupt, `${path}: unknown key derivation ${kdf}`);
  if (kdf === KDF_ARGON2ID && (opsLimit < 1 || opsLimit > MAX_OPS || memKib < 8 || memKib > MAX_MEM_KIB))
    throw new AppError(ErrorCode.Corrupt, `${path}: Argon2id limits out of range`);
  return { kdf, limits: { opsLimit, memLimit: memKib * 1024 }, salt };
}

function checkSecret(secret: KeyStoreSecret): void {
  if ('key' in secret) {
    if (!(secret.key instanceof Uint8Array)) throw new TypeError('key store key: expected Uint8Array');
    if (secret.key.length !== AEAD_KEY_BYTES) throw new RangeError(`key store key: expected ${AEAD_KEY_BYTES} bytes, got ${secret.key.length}`);
  } else if (typeof secret.passphrase !== 'string' && !(secret.passphrase instanceof Uint8Array)) {
    throw new TypeError('key store passphrase: expected a string or Uint8Array');
  } else if (secret.passphrase.length === 0) {
    throw new RangeError('key store passphrase: must not be empty');
  }
}

/** The master key: Argon2id of the passphrase, or a copy of the raw key. */
function masterKey(secret: KeyStoreSecret, p: Params, path: string): Uint8Array {
  if ('key' in secret) {
    if (p.kdf !== KDF_RAW) throw new AppError(ErrorCode.WrongKey, `${path} is protected by a passphrase, not a raw key`);
    return secret.key.slice();
  }
  if (p.kdf !== KDF_ARGON2ID) throw new AppError(ErrorCode.WrongKey, `${path} is protected by a raw key, not a passphrase`);
  const pass = typeof secret.passphrase === 'string' ? utf8(secret.passphrase) : secret.passphrase.slice();
  try {
    return argon2id(AEAD_KEY_BYTES, pass, p.salt, p.limits);
  } finally {
    wipe(pass);
  }
}

/** Key check value and encryption key, both derived from the master key with domain labels. */
function subkeys(master: Uint8Array, header: Uint8Array): { check: Uint8Array; enc: Uint8Array } {
  return {
    check: blake2b(CHECK_BYTES, new ByteWriter().str(LABEL.keystoreCheck).bytes(header).finish(), master),
    enc: blake2b(AEAD_KEY_BYTES, new ByteWriter().str(LABEL.keystoreEnc).finish(), master),
  };
}

/** An open key store file: the derived key is kept (and wiped on close) for later saves. */
export class KeyStoreFile {
  private constructor(
    readonly path: string,
    private readonly header: Uint8Array,
    private readonly check: Uint8Array,
    private enc: Uint8Array | undefined,
  ) {}

  /** Starts a new key store at `path` (replacing any file there) holding `plaintext`. */
  static async create(path: string, secret: KeyStoreSecret, plaintext: Uint8Array): Promise<KeyStoreFile> {
    checkSecret(secret);
    const raw = 'key' in secret;
    const limits = raw ? pwhashMinimum() : (secret.limits ?? pwhashModerate());
    const params: Params = { kdf: raw ? KDF_RAW : KDF_ARGON2ID, limits: raw ? { opsLimit: 0, memLimit: 0 } : limits, salt: randomBytes(PWHASH_SALT_BYTES) };
    const header = encodeHeader(params);
    const master = masterKey(secret, params, path);
    const { check, enc } = subkeys(master, header);
    wipe(master);
    const file = new KeyStoreFile(path, header, check, enc);
    await file.write(plaintext);
    return file;
  }

  /** Opens and decrypts; a wrong passphrase or key is AppError(WrongKey), damage is Corrupt. */
  static async open(path: string, secret: KeyStoreSecret, options: { checkMode?: boolean } = {}): Promise<{ file: KeyStoreFile; plaintext: Uint8Array }> {
    checkSecret(secret);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.Unavailable;
      throw new AppError(code, `cannot read key store ${path}`, { cause });
    }
    if (options.checkMode ?? true) await checkOwnerOnly(path);
    const params = decodeHeader(bytes, path);
    const header = bytes.slice(0, HEADER_BYTES);
    const stored = bytes.subarray(HEADER_BYTES, HEADER_BYTES + CHECK_BYTES);
    const master = masterKey(secret, params, path);
    const { check, enc } = subkeys(master, header);
    wipe(master);
    if (stored.length !== CHECK_BYTES || !constantTimeEqual(check, stored)) {
      wipe(enc);
      throw new AppError(ErrorCode.WrongKey, `wrong ${'key' in secret ? 'key' : 'passphrase'} for key store ${path}`);
    }
    const plaintext = aeadOpen(enc, bytes.subarray(HEADER_BYTES + CHECK_BYTES), header);
    if (plaintext === undefined) {
      wipe(enc);
      throw new AppError(ErrorCode.Corrupt, `key store ${path}: the key is right but the contents fail authentication (damaged or altered file)`);
    }
    return { file: new KeyStoreFile(path, header, check, enc), plaintext };
  }

  /** Replaces the contents atomically (temp file, fsync, rename), mode 0600. */
  async write(plaintext: Uint8Array): Promise<void> {
    if (this.enc === undefined) throw new AppError(ErrorCode.Internal, `key store ${this.path} is closed`);
    const box = aeadSeal(this.enc, plaintext, this.header);
    await atomicWriteFile(this.path, concatBytes(this.header, this.check, box));
  }

  /** Wipes the in-memory key; later writes fail. */
  close(): void {
    if (this.enc !== undefined) wipe(this.enc);
    this.enc = undefined;
  }
}
