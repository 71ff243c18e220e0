// The account's archive keys (design.md "Cryptographic construction": AK) over time: create one,
// rotate (new history copies are sealed to the new key; the old one is kept to read what was
// sealed to it), forget an old one (the user's own shredding of that period), and carry them to a
// second device in an export encrypted under a passphrase (Argon2id, XChaCha20-Poly1305). Keys of
// either suite (archive-suite.ts); new ones are X-Wing by default, and an X-Wing export holds its seed.
// Pure functions of the key state; each returns a new state and wipes the secrets it drops.
import { AppError, ErrorCode } from '../errors/index.js';
import { archiveParams, archivePairMatches, checkArchiveSuite, type ArchiveSuite } from './archive-suite.js';
import { ByteReader, ByteWriter, utf8 } from './encoding.js';
import { idProblem, wire } from './fields.js';
import { MAX_ID, SUITE } from './labels.js';
import { generateArchiveKey, signArchiveKey, withSuite, type SecretArchiveKey } from './prekeys.js';
import { AEAD_KEY_BYTES, aeadOpen, aeadSeal, argon2id, blake2b, constantTimeEqual, pwhashModerate, PWHASH_SALT_BYTES, randomBytes, wipe, type PwhashLimits } from './sodium.js';
import type { AgentKeyState } from './state.js';

const EXPORT_MAGIC = utf8('SPAK');
/** Format 1: X25519 keys only; format 2 names each key's suite (written only when one is not sp1). */
const EXPORT_FORMAT = 1;
const EXPORT_FORMAT_SUITES = 2;
const EXPORT_LABEL = 'sealpost/v1/archive-keys';
const EXPORT_ENC_LABEL = 'sealpost/v1/archive-keys-enc';
const HEADER_BYTES = EXPORT_MAGIC.length + 1 + 4 + 4 + PWHASH_SALT_BYTES;
/** Bounds on what an export may ask of the importer (a crafted file must not hang it). */
const MAX_OPS = 20;
const MAX_MEM_KIB = 2 * 1024 * 1024;
const MAX_KEYS = 1024;

/** One archive key as its holder sees it (public parts only). */
export interface ArchiveKeyInfo {
  readonly id: number;
  readonly publicKey: Uint8Array;
  /** The key new history copies are sealed to (published in the bundle). */
  readonly current: boolean;
  readonly suite: ArchiveSuite;
}

/** Every archive key of the state: the current one first, then the retired ones, newest first. */
export function archiveKeyList(state: AgentKeyState): ArchiveKeyInfo[] {
  const out: ArchiveKeyInfo[] = [];
  const info = (k: SecretArchiveKey, current: boolean): ArchiveKeyInfo => ({ id: k.id, publicKey: k.publicKey, current, suite: k.suite ?? SUITE });
  if (state.archiveKey !== undefined) out.push(info(state.archiveKey, true));
  const retired = [...(state.retiredArchiveKeys ?? [])].sort((a, b) => b.id - a.id);
  for (const k of retired) out.push(info(k, false));
  return out;
}

function nextArchiveKeyId(state: AgentKeyState): number {
  const ids = archiveKeyList(state).map((k) => k.id);
  const next = ids.length === 0 ? 1 : Math.max(...ids) + 1;
  if (next > MAX_ID) throw new RangeError('archive key ids exhausted');
  return next;
}

/** Generates the account's first archive key (X-Wing unless told); refuses when there is one (rotate instead). */
export function createArchiveKey(state: AgentKeyState, suite?: ArchiveSuite): AgentKeyState {
  if (state.archiveKey !== undefined)
    throw new AppError(ErrorCode.BadInput, `the account already has archive key ${state.archiveKey.id}; rotate it instead`);
  return { ...state, archiveKey: generateArchiveKey(state.identity, nextArchiveKeyId(state), suite) };
}

/**
 * A new current archive key with the next id (senders pick the highest id they see); the previous
 * current key joins the retired ones, so history sealed to it stays readable until forgotten.
 */
export function rotateArchiveKey(state: AgentKeyState, suite?: ArchiveSuite): AgentKeyState {
  const fresh = generateArchiveKey(state.identity, nextArchiveKeyId(state), suite);
  const retired = [...(state.retiredArchiveKeys ?? []), ...(state.archiveKey === undefined ? [] : [state.archiveKey])];
  return { ...state, archiveKey: fresh, retiredArchiveKeys: retired };
}

/**
 * Erases a retired archive key: every history copy sealed to it becomes unreadable here. The
 * current key cannot be forgotten (rotate first). NotFound when this state does not hold `id`.
 */
export function forgetArchiveKey(state: AgentKeyState, id: number): AgentKeyState {
  wire<number>('archive key id', id, idProblem);
  if (state.archiveKey?.id === id)
    throw new AppError(ErrorCode.BadInput, `archive key ${id} is the current one; rotate before forgetting it`);
  const retired = state.retiredArchiveKeys ?? [];
  const gone = retired.find((k) => k.id === id);
  if (gone === undefined) throw new AppError(ErrorCode.NotFound, `no archive key ${id} to forget`);
  wipe(gone.secretKey);
  const kept = retired.filter((k) => k.id !== id);
  const { retiredArchiveKeys: _dropped, ...rest } = state;
  return kept.length === 0 ? rest : { ...rest, retiredArchiveKeys: kept };
}

interface ExportedKey {
  id: number;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
  suite: ArchiveSuite;
}

function encodeHeader(format: number, limits: PwhashLimits, salt: Uint8Array): Uint8Array {
  return new ByteWriter()
    .raw(EXPORT_MAGIC)
    .u8(format)
    .u32(limits.opsLimit)
    .u32(Math.floor(limits.memLimit / 1024))
    .raw(salt)
    .finish();
}

function encryptionKey(passphrase: string | Uint8Array, salt: Uint8Array, limits: PwhashLimits): Uint8Array {
  if (typeof passphrase !== 'string' && !(passphrase instanceof Uint8Array))
    throw new TypeError('archive key export passphrase: expected a string or Uint8Array');
  if (passphrase.length === 0) throw new RangeError('archive key export passphrase: must not be empty');
  const pass = typeof passphrase === 'string' ? utf8(passphrase) : passphrase.slice();
  let master: Uint8Array | undefined;
  try {
    master = argon2id(AEAD_KEY_BYTES, pass, salt, limits);
    return blake2b(AEAD_KEY_BYTES, new ByteWriter().str(EXPORT_ENC_LABEL).finish(), master);
  } finally {
    wipe(pass);
    if (master !== undefined) wipe(master);
  }
}

/**
 * Every archive key of the account (current and retired, with secrets) encrypted under a
 * passphrase, for a second device (importArchiveKeys). Argon2id limits default to libsodium's
 * "moderate" (256 MiB, 3 passes). The bytes name the account's JID inside the ciphertext.
 */
export function exportArchiveKeys(
  state: AgentKeyState,
  passphrase: string | Uint8Array,
  options: { limits?: PwhashLimits } = {},
): Uint8Array {
  const keys: SecretArchiveKey[] = [...(state.archiveKey === undefined ? [] : [state.archiveKey]), ...(state.retiredArchiveKeys ?? [])];
  if (keys.length === 0) throw new AppError(ErrorCode.NotFound, 'this account has no archive key to export');
  const limits = options.limits ?? pwhashModerate();
  const salt = randomBytes(PWHASH_SALT_BYTES);
  const format = keys.some((k) => (k.suite ?? SUITE) !== SUITE) ? EXPORT_FORMAT_SUITES : EXPORT_FORMAT;
  const header = encodeHeader(format, limits, salt);
  const w = new ByteWriter().str(EXPORT_LABEL).str(state.identity.jid).u32(state.archiveKey?.id ?? 0).u32(keys.length);
  for (const k of keys) {
    if (format === EXPORT_FORMAT_SUITES) w.str(k.suite ?? SUITE);
    w.u32(k.id).bytes(k.publicKey).bytes(k.secretKey);
  }
  const plain = w.finish();
  const enc = encryptionKey(passphrase, salt, limits);
  try {
    const box = aeadSeal(enc, plain, header);
    const out = new Uint8Array(header.length + box.length);
    out.set(header, 0);
    out.set(box, header.length);
    return out;
  } finally {
    wipe(enc);
    wipe(plain);
  }
}

function decodeExport(bytes: Uint8Array, passphrase: string | Uint8Array): { jid: string; currentId: number; keys: ExportedKey[] } {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('archive key export: expected Uint8Array');
  const r = new ByteReader(bytes, 'archive key export');
  if (bytes.length < HEADER_BYTES || !constantTimeEqual(r.raw('magic', EXPORT_MAGIC.length), EXPORT_MAGIC))
    throw new AppError(ErrorCode.BadInput, 'not a sealpost archive key export');
  const format = r.u8('format');
  if (format !== EXPORT_FORMAT && format !== EXPORT_FORMAT_SUITES) throw new AppError(ErrorCode.BadInput, `archive key export: unsupported format ${format}`);
  const opsLimit = r.u32('opslimit');
  const memKib = r.u32('memlimit');
  const salt = r.raw('salt', PWHASH_SALT_BYTES);
  if (opsLimit < 1 || opsLimit > MAX_OPS || memKib < 8 || memKib > MAX_MEM_KIB)
    throw new AppError(ErrorCode.BadInput, 'archive key export: Argon2id limits out of range');
  const enc = encryptionKey(passphrase, salt, { opsLimit, memLimit: memKib * 1024 });
  let plain: Uint8Array | undefined;
  try {
    plain = aeadOpen(enc, bytes.subarray(HEADER_BYTES), bytes.subarray(0, HEADER_BYTES));
  } finally {
    wipe(enc);
  }
  if (plain === undefined) throw new AppError(ErrorCode.WrongKey, 'archive key export: wrong passphrase, or the export was altered');
  try {
    const p = new ByteReader(plain, 'archive key export');
    if (p.str('label', 0, 64) !== EXPORT_LABEL) throw new AppError(ErrorCode.Corrupt, 'archive key export: wrong label');
    const jid = p.str('jid', 3, 2047);
    const currentId = p.u32('current id');
    const n = p.u32('key count');
    if (n < 1 || n > MAX_KEYS) throw new AppError(ErrorCode.Corrupt, `archive key export: ${n} keys`);
    const keys: ExportedKey[] = [];
    for (let i = 0; i < n; i++) {
      const suite = format === EXPORT_FORMAT_SUITES ? checkArchiveSuite(p.str('suite', 1, 16), 'archive key export') : SUITE;
      const id = wire<number>('archive key id', p.u32('id'), idProblem);
      const publicKey = p.bytes('public key', archiveParams(suite).publicBytes);
      const secretKey = p.bytes('secret key', archiveParams(suite).secretBytes);
      if (!archivePairMatches(suite, publicKey, secretKey))
        throw new AppError(ErrorCode.Corrupt, `archive key export: key ${id} does not match its secret`);
      if (keys.some((k) => k.id === id)) throw new AppError(ErrorCode.Corrupt, `archive key export: key ${id} twice`);
      keys.push({ id, publicKey, secretKey, suite });
    }
    p.end();
    if (currentId !== 0 && !keys.some((k) => k.id === currentId))
      throw new AppError(ErrorCode.Corrupt, 'archive key export: the current key is missing');
    return { jid, currentId, keys };
  } finally {
    wipe(plain);
  }
}

export interface ImportResult {
  readonly state: AgentKeyState;
  /** Ids that this state did not hold before. */
  readonly added: readonly number[];
  /** True when the imported current key became this device's current key. */
  readonly currentChanged: boolean;
}

/**
 * Merges an export into this device's state: keys it lacks are added (signed anew by this
 * device's identity), and the export's current key becomes current here unless this device
 * already has a newer one (a higher id). The export must belong to this account (Forbidden), and a
 * key id held here with a different key is refused (Corrupt): nothing is changed then.
 */
export function importArchiveKeys(state: AgentKeyState, bytes: Uint8Array, passphrase: string | Uint8Array): ImportResult {
  const exp = decodeExport(bytes, passphrase);
  const mine = [...(state.archiveKey === undefined ? [] : [state.archiveKey]), ...(state.retiredArchiveKeys ?? [])];
  try {
    if (exp.jid !== state.identity.jid)
      throw new AppError(ErrorCode.Forbidden, `the export holds the archive keys of ${exp.jid}, not of ${state.identity.jid}`);
    for (const k of exp.keys) {
      const held = mine.find((m) => m.id === k.id);
      if (held !== undefined && !constantTimeEqual(held.publicKey, k.publicKey))
        throw new AppError(ErrorCode.Corrupt, `archive key ${k.id} here differs from the exported key ${k.id}; nothing imported`);
    }
    const fresh = exp.keys.filter((k) => !mine.some((m) => m.id === k.id));
    const asPrekey = (k: ExportedKey): SecretArchiveKey => ({
      id: k.id,
      publicKey: k.publicKey.slice(),
      secretKey: k.secretKey.slice(),
      signature: signArchiveKey(state.identity, k.id, k.publicKey, k.suite),
      ...withSuite(k.suite),
    });
    const all = [...mine, ...fresh.map(asPrekey)];
    const curId = state.archiveKey?.id ?? 0;
    const newCurrentId = exp.currentId > curId ? exp.currentId : curId;
    const current = all.find((k) => k.id === newCurrentId);
    const retired = all.filter((k) => k.id !== newCurrentId).sort((a, b) => a.id - b.id);
    const { archiveKey: _a, retiredArchiveKeys: _r, ...base } = state;
    const next: AgentKeyState = {
      ...base,
      ...(current === undefined ? {} : { archiveKey: current }),
      ...(retired.length === 0 ? {} : { retiredArchiveKeys: retired }),
    };
    return { state: next, added: fresh.map((k) => k.id).sort((a, b) => a - b), currentChanged: newCurrentId !== curId };
  } finally {
    for (const k of exp.keys) wipe(k.secretKey);
  }
}
