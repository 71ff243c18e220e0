// Binary encoding of an agent's secrets (key state and seen message ids) for the encrypted key
// store (issue 3, "agent key store"). Length-prefixed fields after a domain label; decoding checks
// every length and that each stored public key matches its secret (design.md, invariant 5).
import { AppError, ErrorCode } from '../errors/index.js';
import { archiveParams, archivePairMatches, checkArchiveSuite, type ArchiveSuite } from './archive-suite.js';
import { ByteReader, ByteWriter } from './encoding.js';
import { idProblem, jidProblem, messageIdProblem, timestampProblem, wire } from './fields.js';
import { MAX_JID_BYTES, MAX_MESSAGE_ID_CHARS, SUITE } from './labels.js';
import { withSuite, type SecretArchiveKey, type SecretPrekey } from './prekeys.js';
import type { SeenEntry } from './replay.js';
import {
  constantTimeEqual,
  ED25519_PUBLIC_BYTES,
  ED25519_SECRET_BYTES,
  ED25519_SIGNATURE_BYTES,
  X25519_PUBLIC_BYTES,
  X25519_SECRET_BYTES,
  x25519PublicKey,
} from './sodium.js';
import type { AgentKeyState, OpkRecord, SpkRecord } from './state.js';

const STATE_LABEL = 'sealpost/v1/agent-state';
const VERSION = 1;
/** Version 2 adds the retired archive keys after the current one (written only when there are some). */
const VERSION_RETIRED_AKS = 2;
/** Version 3 names each archive key's suite before it (written only when one is not "sp1"). */
const VERSION_AK_SUITES = 3;
/** Version 4 adds after each one-time prekey when a publish found it claimed (0: not claimed). */
const VERSION_OPK_CLAIMS = 4;
const MAX_RETIRED_AKS = 1024;
const MAX_SPKS = 64;
const MAX_OPKS = 10_000;
const MAX_SEEN = 1_000_000;

export interface AgentSecrets {
  readonly keys: AgentKeyState;
  readonly seen: readonly SeenEntry[];
}

function writePrekey(w: ByteWriter, p: SecretPrekey): void {
  w.u32(p.id).bytes(p.publicKey).bytes(p.secretKey).bytes(p.signature);
}

/**
 * The seen ids' section of the state, kept encoded as ids are added: a group commit copies it
 * instead of encoding every id again (with 20,000 ids that was 6 ms per commit, growing with them).
 */
export class SeenLog {
  private readonly w = new ByteWriter(4096);
  private n = 0;

  constructor(entries: Iterable<SeenEntry> = []) {
    for (const e of entries) this.add(e);
  }

  add(e: SeenEntry): void {
    this.w.str(e.sender).str(e.messageId).u64(e.timestamp);
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** The encoded entries (a view, valid until the next add). */
  bytes(): Uint8Array {
    return this.w.written();
  }
}

/** The oldest version that holds this state, so a state without newer parts keeps its old bytes. */
function versionFor(k: AgentKeyState): number {
  const retired = k.retiredArchiveKeys ?? [];
  if (k.oneTimePrekeys.some((p) => p.claimedBy !== undefined)) return VERSION_OPK_CLAIMS;
  if ([k.archiveKey, ...retired].some((a) => a?.suite !== undefined && a.suite !== SUITE)) return VERSION_AK_SUITES;
  return retired.length > 0 ? VERSION_RETIRED_AKS : VERSION;
}

function writeArchiveKey(w: ByteWriter, version: number, p: SecretArchiveKey): void {
  if (version >= VERSION_AK_SUITES) w.str(p.suite ?? SUITE);
  writePrekey(w, p);
}

export function encodeAgentSecrets(s: AgentSecrets): Uint8Array {
  return encodeAgentState(s.keys, new SeenLog(s.seen));
}

/** The state's bytes: the key state encoded now, then the seen ids as `seen` holds them encoded. */
export function encodeAgentState(k: AgentKeyState, seen: SeenLog): Uint8Array {
  const retired = k.retiredArchiveKeys ?? [];
  const version = versionFor(k);
  // Room for the key state (about 15 KiB with 100 one-time prekeys, 140 bytes each more) and the seen ids: no regrowth.
  const w = new ByteWriter(32768 + 140 * k.oneTimePrekeys.length + seen.bytes().length).str(STATE_LABEL).u8(version);
  w.str(k.identity.jid).u32(k.identity.device).bytes(k.identity.publicKey).bytes(k.identity.secretKey);
  w.u32(k.nextPrekeyId);
  w.u32(k.signedPrekeys.length);
  for (const p of k.signedPrekeys) {
    w.u32(p.id).bytes(p.publicKey).u8(p.secretKey === null ? 0 : 1);
    if (p.secretKey !== null) w.bytes(p.secretKey);
    w.bytes(p.signature).u64(p.createdAt).u64(p.expires);
  }
  w.u32(k.oneTimePrekeys.length);
  for (const p of k.oneTimePrekeys) {
    writePrekey(w, p);
    if (version >= VERSION_OPK_CLAIMS) w.u64(p.claimedBy ?? 0);
  }
  w.u8(k.archiveKey === undefined ? 0 : 1);
  if (k.archiveKey !== undefined) writeArchiveKey(w, version, k.archiveKey);
  if (version !== VERSION) {
    w.u32(retired.length);
    for (const p of retired) writeArchiveKey(w, version, p);
  }
  w.u32(seen.count).raw(seen.bytes());
  return w.finish();
}

function corrupt(what: string): never {
  throw new AppError(ErrorCode.Corrupt, `key store: ${what}`);
}

function readX25519(r: ByteReader, what: string): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const publicKey = r.bytes(`${what} public key`, X25519_PUBLIC_BYTES);
  const secretKey = r.bytes(`${what} secret key`, X25519_SECRET_BYTES);
  if (!constantTimeEqual(x25519PublicKey(secretKey), publicKey)) corrupt(`${what}: public key does not match its secret`);
  return { publicKey, secretKey };
}

function readPrekey(r: ByteReader, what: string): SecretPrekey {
  const id = wire<number>(`${what} id`, r.u32(`${what} id`), idProblem);
  const kp = readX25519(r, `${what} ${id}`);
  return { id, ...kp, signature: r.bytes(`${what} signature`, ED25519_SIGNATURE_BYTES) };
}

/** An archive key of any suite (before version 3: always "sp1"), its public key checked against its secret. */
function readArchiveKey(r: ByteReader, version: number, what: string): SecretArchiveKey {
  const suite: ArchiveSuite = version >= VERSION_AK_SUITES ? checkArchiveSuite(r.str(`${what} suite`, 1, 16), `key store: ${what}`) : SUITE;
  if (suite === SUITE) return readPrekey(r, what);
  const p = archiveParams(suite);
  const id = wire<number>(`${what} id`, r.u32(`${what} id`), idProblem);
  const publicKey = r.bytes(`${what} ${id} public key`, p.publicBytes);
  const secretKey = r.bytes(`${what} ${id} secret key`, p.secretBytes);
  if (!archivePairMatches(suite, publicKey, secretKey)) corrupt(`${what} ${id}: public key does not match its secret`);
  return { id, publicKey, secretKey, signature: r.bytes(`${what} signature`, ED25519_SIGNATURE_BYTES), ...withSuite(suite) };
}

function count(r: ByteReader, what: string, max: number): number {
  const n = r.u32(what);
  if (n > max) corrupt(`${n} ${what}, at most ${max}`);
  return n;
}

export function decodeAgentSecrets(bytes: Uint8Array): AgentSecrets {
  const r = new ByteReader(bytes, 'key store');
  if (r.str('label', 0, 64) !== STATE_LABEL) corrupt('not an agent state');
  const version = r.u8('version');
  if (version < VERSION || version > VERSION_OPK_CLAIMS) corrupt(`unsupported state version ${version}`);
  const jid = wire<string>('jid', r.str('jid', 3, MAX_JID_BYTES), jidProblem);
  const device = wire<number>('device', r.u32('device'), idProblem);
  const publicKey = r.bytes('identity public key', ED25519_PUBLIC_BYTES);
  const secretKey = r.bytes('identity secret key', ED25519_SECRET_BYTES);
  // libsodium's Ed25519 secret key is seed ‖ public key.
  if (!constantTimeEqual(secretKey.subarray(32), publicKey)) corrupt('identity public key does not match its secret');
  const nextPrekeyId = r.u32('next prekey id');

  const signedPrekeys: SpkRecord[] = [];
  const nSpk = count(r, 'signed prekeys', MAX_SPKS);
  if (nSpk === 0) corrupt('no signed prekey');
  for (let i = 0; i < nSpk; i++) {
    const id = wire<number>('signed prekey id', r.u32('signed prekey id'), idProblem);
    const pub = r.bytes('signed prekey public key', X25519_PUBLIC_BYTES);
    let secret: Uint8Array | null = null;
    if (r.u8('signed prekey secret flag') === 1) {
      secret = r.bytes('signed prekey secret key', X25519_SECRET_BYTES);
      if (!constantTimeEqual(x25519PublicKey(secret), pub)) corrupt(`signed prekey ${id}: public key does not match its secret`);
    }
    const signature = r.bytes('signed prekey signature', ED25519_SIGNATURE_BYTES);
    const createdAt = wire<number>('created', r.u64('created'), timestampProblem);
    const expires = wire<number>('expires', r.u64('expires'), timestampProblem);
    signedPrekeys.push({ id, publicKey: pub, secretKey: secret, signature, createdAt, expires });
  }
  const oneTimePrekeys: OpkRecord[] = [];
  const nOpk = count(r, 'one-time prekeys', MAX_OPKS);
  for (let i = 0; i < nOpk; i++) {
    const p = readPrekey(r, 'one-time prekey');
    const claimedBy = version >= VERSION_OPK_CLAIMS ? r.u64('one-time prekey claimed') : 0;
    oneTimePrekeys.push(claimedBy === 0 ? p : { ...p, claimedBy });
  }
  const archiveKey = r.u8('archive key flag') === 1 ? readArchiveKey(r, version, 'archive key') : undefined;
  const retiredArchiveKeys: SecretArchiveKey[] = [];
  if (version !== VERSION) {
    const nRetired = count(r, 'retired archive keys', MAX_RETIRED_AKS);
    for (let i = 0; i < nRetired; i++) retiredArchiveKeys.push(readArchiveKey(r, version, 'retired archive key'));
  }
  const seen: SeenEntry[] = [];
  const nSeen = count(r, 'seen ids', MAX_SEEN);
  for (let i = 0; i < nSeen; i++) {
    const sender = wire<string>('seen sender', r.str('seen sender', 3, MAX_JID_BYTES), jidProblem);
    const messageId = wire<string>('seen id', r.str('seen id', 1, MAX_MESSAGE_ID_CHARS), messageIdProblem);
    seen.push({ sender, messageId, timestamp: r.u64('seen timestamp') });
  }
  r.end();
  const keys: AgentKeyState = {
    identity: { jid, device, publicKey, secretKey },
    nextPrekeyId,
    signedPrekeys,
    oneTimePrekeys,
    ...(archiveKey === undefined ? {} : { archiveKey }),
    ...(retiredArchiveKeys.length === 0 ? {} : { retiredArchiveKeys }),
  };
  return { keys, seen };
}
