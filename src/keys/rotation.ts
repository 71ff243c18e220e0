// Signed prekey rotation with a grace period (design.md, "Cryptographic construction": SPK
// rotated, default every 7 days; its secret kept one more period, then erased). Pure functions of
// the key state and an injected clock; erased secrets are wiped and kept as id-only tombstones.
import { generateSignedPrekey } from './prekeys.js';
import { wipe } from './sodium.js';
import { currentSignedPrekey, DEFAULT_SPK_PERIOD_MS, type AgentKeyState, type SpkRecord } from './state.js';

export interface RotationPolicy {
  /** Lifetime of a signed prekey (its signed expiry is creation + period). */
  readonly periodMs: number;
  /** How long an old secret is kept after its expiry, for messages in flight. */
  readonly graceMs: number;
  /** How many erased signed prekeys to remember, so late messages get a clear "expired". */
  readonly tombstones: number;
}

export const DEFAULT_ROTATION: RotationPolicy = Object.freeze({
  periodMs: DEFAULT_SPK_PERIOD_MS,
  graceMs: DEFAULT_SPK_PERIOD_MS,
  tombstones: 8,
});

/** Adds a new current signed prekey now, whatever the age of the old one. */
export function rotateSignedPrekey(state: AgentKeyState, now: number, periodMs = DEFAULT_ROTATION.periodMs): AgentKeyState {
  const id = state.nextPrekeyId;
  const spk = generateSignedPrekey(state.identity, id, now, now + periodMs);
  return { ...state, nextPrekeyId: id + 1, signedPrekeys: [...state.signedPrekeys, spk] };
}

export interface MaintainResult {
  readonly state: AgentKeyState;
  readonly rotated: boolean;
  /** Ids of signed prekeys whose secrets were erased by this call. */
  readonly erased: readonly number[];
}

/**
 * Rotates when the current signed prekey has expired, erases secrets of older ones whose grace
 * ended, and trims tombstones. Run it on start-up and periodically with `now()`.
 */
export function maintainSignedPrekeys(
  state: AgentKeyState,
  now: () => number,
  policy: Partial<RotationPolicy> = {},
): MaintainResult {
  const p = { ...DEFAULT_ROTATION, ...policy };
  const t = now();
  let next = state;
  let rotated = false;
  if (currentSignedPrekey(next).expires <= t) {
    next = rotateSignedPrekey(next, t, p.periodMs);
    rotated = true;
  }
  const current = currentSignedPrekey(next);
  const erased: number[] = [];
  const kept: SpkRecord[] = next.signedPrekeys.map((s) => {
    if (s === current || s.secretKey === null || t < s.expires + p.graceMs) return s;
    wipe(s.secretKey);
    erased.push(s.id);
    return { ...s, secretKey: null };
  });
  const tombs = kept.filter((s) => s.secretKey === null);
  const drop = new Set(tombs.slice(0, Math.max(0, tombs.length - p.tombstones)));
  next = { ...next, signedPrekeys: kept.filter((s) => !drop.has(s)) };
  return { state: next, rotated, erased };
}
