// The master key, the only secret an operator keeps (design.md "Storage"), and the subkeys derived
// from it with keyed BLAKE2b over domain labels: keyring encryption, file-name hashing, key wrapping.
// Production requires the key from env or file; development generates <dataDir>/master.key loudly.
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { AEAD_KEY_BYTES, blake2b, initSodium, randomBytes } from '../keys/index.js';
import type { Logger } from '../log/index.js';

export const MASTER_KEY_BYTES = 32;
const B64 = /^[A-Za-z0-9+/_-]{43}=?$/;

export interface MasterKeySource {
  /** Base64 (standard or URL-safe) of 32 bytes, from SEALPOST_MASTER_KEY. */
  masterKey?: string | undefined;
  /** File holding the key as base64 text or 32 raw bytes, from SEALPOST_MASTER_KEY_FILE. */
  masterKeyFile?: string | undefined;
  mode: 'development' | 'production';
  dataDir: string;
}

function decodeBase64Key(text: string, where: string): Uint8Array {
  const t = text.trim();
  const bytes = B64.test(t) ? Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64') : null;
  if (bytes?.length !== MASTER_KEY_BYTES)
    throw new AppError(ErrorCode.Config, `${where}: master key must be base64 of exactly 32 bytes`);
  return new Uint8Array(bytes);
}

/** Production refuses a key file that group or others can read (issue 14); development warns. */
function readKeyFile(path: string, logger: Logger, production: boolean): Uint8Array {
  let raw: Buffer;
  let mode: number;
  try {
    raw = readFileSync(path);
    mode = statSync(path).mode;
  } catch (err) {
    throw new AppError(ErrorCode.Config, `cannot read master key file ${path}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8);
    if (production) {
      raw.fill(0);
      throw new AppError(ErrorCode.Config, `master key file ${path} is readable by group or others (mode ${octal}); chmod 600 it`);
    }
    logger.warn({ path, mode: octal }, 'master key file is readable by group or others');
  }
  const key = raw.length === MASTER_KEY_BYTES ? new Uint8Array(raw) : decodeBase64Key(raw.toString('utf8'), path);
  raw.fill(0);
  return key;
}

/**
 * Loads the master key: env value, else file, else (development only) `<dataDir>/master.key`,
 * generated with mode 0600 on first start. Both env and file set is ambiguous and refused.
 */
export async function loadMasterKey(source: MasterKeySource, logger: Logger): Promise<Uint8Array> {
  await initSodium('auto', { wasm: 'lazy' });
  if (source.masterKey !== undefined && source.masterKeyFile !== undefined)
    throw new AppError(ErrorCode.Config, 'set SEALPOST_MASTER_KEY or SEALPOST_MASTER_KEY_FILE, not both');
  if (source.masterKey !== undefined) return decodeBase64Key(source.masterKey, 'SEALPOST_MASTER_KEY');
  if (source.masterKeyFile !== undefined) return readKeyFile(source.masterKeyFile, logger, source.mode === 'production');
  if (source.mode === 'production')
    throw new AppError(ErrorCode.Config, 'production mode requires SEALPOST_MASTER_KEY or SEALPOST_MASTER_KEY_FILE');

  const path = join(source.dataDir, 'master.key');
  mkdirSync(source.dataDir, { recursive: true, mode: 0o700 });
  const fresh = randomBytes(MASTER_KEY_BYTES);
  let created = false;
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, `${Buffer.from(fresh).toString('base64')}\n`);
    } finally {
      closeSync(fd);
    }
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new AppError(ErrorCode.Config, `cannot create ${path}`, { cause: err });
  } finally {
    fresh.fill(0);
  }
  logger.warn(
    { path, created },
    created
      ? '!!! DEVELOPMENT MASTER KEY GENERATED: every archive depends on this file; set SEALPOST_MASTER_KEY(_FILE) for real use !!!'
      : '!!! USING DEVELOPMENT MASTER KEY FILE: set SEALPOST_MASTER_KEY(_FILE) for real use !!!',
  );
  return readKeyFile(path, logger, false);
}

export interface ArchiveSubkeys {
  /** Encrypts keyring.db at rest. */
  keyring: Uint8Array;
  /** Keys the hash that names each user's file. */
  names: Uint8Array;
  /** Wraps (XChaCha20-Poly1305) each per-user key. */
  wrap: Uint8Array;
}

const LABELS = {
  keyring: 'sealpost/v1/keyring',
  names: 'sealpost/v1/archive-name',
  wrap: 'sealpost/v1/user-key-wrap',
} as const;

/** Independent 32-byte subkeys: BLAKE2b-256 keyed with the master key over each label. */
export function deriveArchiveSubkeys(master: Uint8Array): ArchiveSubkeys {
  if (!(master instanceof Uint8Array) || master.length !== MASTER_KEY_BYTES)
    throw new RangeError(`masterKey: expected ${MASTER_KEY_BYTES} bytes`);
  const d = (label: string) => blake2b(AEAD_KEY_BYTES, new TextEncoder().encode(label), master);
  return { keyring: d(LABELS.keyring), names: d(LABELS.names), wrap: d(LABELS.wrap) };
}
