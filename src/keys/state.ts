// An agent device's key state: identity, signed prekeys (current and in grace), unused one-time
// prekeys, the account's archive key (design.md, "Cryptographic construction", keys of one
// agent). Pure functions: each returns a new state and wipes the secrets it drops.
import { archiveParams, type ArchiveSuite } from './archive-suite.js';
import type { Bundle } from './bundle.js';
import { createDeviceIdentity, type DeviceIdentity } from './identity.js';
import { DEFAULT_LIMITS, MAX_ID, SUITE } from './labels.js';
import {
  generateArchiveKey,
  generateOneTimePrekey,
  generateSignedPrekey,
  signArchiveKey,
  withSuite,
  type OneTimePrekey,
  type SecretArchiveKey,
  type SecretPrekey,
} from './prekeys.js';
import type { ArchiveTarget } from './seal.js';
import { wipe } from './sodium.js';
import { argBytes } from './fields.js';

export const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_SPK_PERIOD_MS = 7 * DAY_MS;

/** A signed prekey as its owner keeps it; `secretKey` is null once erased after its grace. */
export interface SpkRecord {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array | null;
  readonly signature: Uint8Array;
  readonly createdAt: number;
  readonly expires: number;
}

export interface AgentKeyState {
  readonly identity: DeviceIdentity;
  /** Next id for a signed or one-time prekey; one id space per device. */
  readonly nextPrekeyId: number;
  /** Oldest first; the last one is current (published). */
  readonly signedPrekeys: readonly SpkRecord[];
  /** Unused one-time prekeys with their secrets (published, or claimed and not yet opened). */
  readonly oneTimePrekeys: readonly OpkRecord[];
  readonly archiveKey?: SecretArchiveKey;
  /** Earlier archive keys kept to read history sealed to them (archive-keys.ts); oldest first. */
  readonly retiredArchiveKeys?: readonly SecretArchiveKey[];
}

/** A one-time prekey as its owner keeps it; `claimedBy`: a publish found it claimed by then (ms). */
export interface OpkRecord extends SecretPrekey {
  readonly claimedBy?: number;
}

export interface CreateOptions {
  jid: string;
  device?: number;
  now: number;
  oneTimePrekeys?: number;
  spkPeriodMs?: number;
  /** true: generate a new account archive key; or import the account's existing one. */
  archiveKey?: boolean | ArchiveKeyMaterial;
  /** Suite of a generated archive key (default X-Wing, archive-suite.ts). */
  archiveSuite?: ArchiveSuite;
}

/** An archive key as carried between devices of one account; suite absent means "sp1" (X25519). */
export interface ArchiveKeyMaterial {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
  readonly suite?: ArchiveSuite;
}

function allocate(state: { nextPrekeyId: number }, n: number): number {
  const first = state.nextPrekeyId;
  if (first + n - 1 > MAX_ID) throw new RangeError('prekey ids exhausted');
  return first;
}

export function createAgentKeys(o: CreateOptions): AgentKeyState {
  const identity = createDeviceIdentity(o.jid, o.device);
  const period = o.spkPeriodMs ?? DEFAULT_SPK_PERIOD_MS;
  const spk = generateSignedPrekey(identity, 1, o.now, o.now + period);
  let state: AgentKeyState = { identity, nextPrekeyId: 2, signedPrekeys: [spk], oneTimePrekeys: [] };
  state = addOneTimePrekeys(state, o.oneTimePrekeys ?? DEFAULT_LIMITS.maxOpksPerUpload).state;
  if (o.archiveKey === true) state = { ...state, archiveKey: generateArchiveKey(identity, 1, o.archiveSuite) };
  else if (typeof o.archiveKey === 'object') state = setArchiveKey(state, o.archiveKey);
  return state;
}

/** Adds `count` fresh one-time prekeys; returns their public parts for upload. */
export function addOneTimePrekeys(state: AgentKeyState, count: number): { state: AgentKeyState; added: OneTimePrekey[] } {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count: expected a non-negative integer, got ${count}`);
  const first = allocate(state, count);
  const fresh: SecretPrekey[] = [];
  for (let i = 0; i < count; i++) fresh.push(generateOneTimePrekey(state.identity, first + i));
  return {
    state: { ...state, nextPrekeyId: first + count, oneTimePrekeys: [...state.oneTimePrekeys, ...fresh] },
    added: fresh.map(({ id, publicKey, signature }) => ({ id, publicKey, signature })),
  };
}

/** Erases a one-time prekey after its first successful open (forward secrecy for transit). */
export function consumeOneTimePrekey(state: AgentKeyState, id: number): AgentKeyState {
  const used = state.oneTimePrekeys.find((p) => p.id === id);
  if (used === undefined) return state;
  wipe(used.secretKey);
  return { ...state, oneTimePrekeys: state.oneTimePrekeys.filter((p) => p.id !== id) };
}

/**
 * After a publish at `now` that replaced the directory's one-time prekeys (ids below `firstNew`):
 * every older one it did not report dropped was claimed by then (issue 14, attack 2).
 */
export function markClaimedOpks(state: AgentKeyState, firstNew: number, now: number): AgentKeyState {
  if (!state.oneTimePrekeys.some((p) => p.id < firstNew && p.claimedBy === undefined)) return state;
  return { ...state, oneTimePrekeys: state.oneTimePrekeys.map((p) => (p.id < firstNew && p.claimedBy === undefined ? { ...p, claimedBy: now } : p)) };
}

/**
 * Erases the secrets of one-time prekeys claimed before `before` and never used: a message sealed
 * to one carries a timestamp before its claim, so past the accepted window it is refused anyway.
 * A claimer that never sends no longer grows the key file for ever.
 */
export function expireClaimedOpks(state: AgentKeyState, before: number): AgentKeyState {
  const stale = state.oneTimePrekeys.filter((p) => p.claimedBy !== undefined && p.claimedBy < before);
  if (stale.length === 0) return state;
  for (const p of stale) wipe(p.secretKey);
  return { ...state, oneTimePrekeys: state.oneTimePrekeys.filter((p) => !stale.includes(p)) };
}

/** Installs the account's archive key (generated on another device), signed by this device. */
export function setArchiveKey(state: AgentKeyState, ak: ArchiveKeyMaterial): AgentKeyState {
  const params = archiveParams(ak.suite);
  argBytes('archive public key', ak.publicKey, params.publicBytes);
  argBytes('archive secret key', ak.secretKey, params.secretBytes);
  if (state.archiveKey !== undefined && state.archiveKey.id !== ak.id) wipe(state.archiveKey.secretKey);
  const signature = signArchiveKey(state.identity, ak.id, ak.publicKey, ak.suite);
  const key = { id: ak.id, publicKey: ak.publicKey.slice(), secretKey: ak.secretKey.slice(), signature, ...withSuite(ak.suite) };
  return { ...state, archiveKey: key };
}

export function currentSignedPrekey(state: AgentKeyState): SpkRecord {
  const spk = state.signedPrekeys[state.signedPrekeys.length - 1];
  if (spk === undefined) throw new RangeError('key state has no signed prekey');
  return spk;
}

/** The bundle to publish: identity, current signed prekey, up to `maxOpks` unused OPKs, AK. */
export function publicBundle(state: AgentKeyState, maxOpks: number = DEFAULT_LIMITS.maxOpksPerUpload): Bundle {
  const spk = currentSignedPrekey(state);
  const b: Bundle = {
    suite: SUITE,
    jid: state.identity.jid,
    device: state.identity.device,
    identityKey: state.identity.publicKey,
    signedPrekey: { id: spk.id, publicKey: spk.publicKey, expires: spk.expires, signature: spk.signature },
    oneTimePrekeys: state.oneTimePrekeys.slice(0, maxOpks).map(({ id, publicKey, signature }) => ({ id, publicKey, signature })),
  };
  const ak = state.archiveKey;
  return ak === undefined ? b : { ...b, archiveKey: { id: ak.id, publicKey: ak.publicKey, signature: ak.signature, ...withSuite(ak.suite) } };
}

/** This account's archive key as a seal target, for the sender's own history copy. */
export function ownArchiveTarget(state: AgentKeyState): ArchiveTarget | undefined {
  const ak = state.archiveKey;
  return ak === undefined ? undefined : { id: ak.id, publicKey: ak.publicKey, ...withSuite(ak.suite) };
}

/** Wipes every secret of a state that is being dropped. */
export function wipeAgentKeys(state: AgentKeyState): void {
  wipe(state.identity.secretKey);
  for (const s of state.signedPrekeys) if (s.secretKey !== null) wipe(s.secretKey);
  for (const p of state.oneTimePrekeys) wipe(p.secretKey);
  if (state.archiveKey !== undefined) wipe(state.archiveKey.secretKey);
  for (const k of state.retiredArchiveKeys ?? []) wipe(k.secretKey);
}
