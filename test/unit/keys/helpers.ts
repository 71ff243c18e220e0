// Shared fixtures for the src/keys unit tests: agents with fixed clocks, in-memory stores, and a
// one-call sealing helper. Importing this module initialises libsodium.
import {
  createAgentKeys,
  decodeBundle,
  bundleToWire,
  initSodium,
  KeyRing,
  MemoryReplayStore,
  MemoryTrustStore,
  publicBundle,
  seal,
  setArchiveKey,
  targetsFromBundles,
  ownArchiveTarget,
  AppError,
  type AgentKeyState,
  type ArchiveSuite,
  type OpenContext,
  type SealedEnvelope,
} from './imports.js';

await initSodium();

/** A fixed instant for tests: 2025-01-01T12:00:00Z. */
export const T0 = Date.UTC(2025, 0, 1, 12);
export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;

export function agent(jid: string, o: { opks?: number; archive?: boolean; archiveSuite?: ArchiveSuite; now?: number } = {}): AgentKeyState {
  return createAgentKeys({ jid, now: o.now ?? T0, oneTimePrekeys: o.opks ?? 2, archiveKey: o.archive ?? false, archiveSuite: o.archiveSuite });
}

/** `n` devices of one account sharing one archive key (when `archive`). */
export function account(jid: string, n: number, o: { opks?: number; archive?: boolean; archiveSuite?: ArchiveSuite } = {}): AgentKeyState[] {
  const first = agent(jid, o);
  const out = [first];
  for (let i = 1; i < n; i++) {
    let next = agent(jid, { ...o, archive: false });
    if (first.archiveKey !== undefined) next = setArchiveKey(next, first.archiveKey);
    out.push(next);
  }
  return out;
}

export interface Party {
  state: AgentKeyState;
  ring: KeyRing;
  trust: MemoryTrustStore;
  replay: MemoryReplayStore;
}

export function party(state: AgentKeyState): Party {
  return { state, ring: new KeyRing(state), trust: new MemoryTrustStore(), replay: new MemoryReplayStore() };
}

export function ctx(p: Party, extra: Partial<OpenContext> = {}): OpenContext {
  return {
    me: { jid: p.ring.state.identity.jid, device: p.ring.state.identity.device },
    prekeys: p.ring,
    trust: p.trust,
    replay: p.replay,
    now: () => T0,
    ...extra,
  };
}

/** Seals from `from` to every device of `to`, through the bundle wire form as a real sender would. */
export function sealFor(
  from: AgentKeyState,
  to: readonly AgentKeyState[],
  plaintext: Uint8Array,
  o: { now?: number; senderArchive?: boolean; messageId?: string } = {},
): SealedEnvelope {
  const now = o.now ?? T0;
  const bundles = to.map((s) => decodeBundle(JSON.parse(JSON.stringify(bundleToWire(publicBundle(s)))), { now }));
  const recipient = to[0]?.identity.jid ?? 'nobody@example.org';
  const targets = targetsFromBundles(recipient, bundles, now);
  return seal({
    from: from.identity,
    to: recipient,
    devices: targets.devices,
    recipientArchive: targets.archive,
    senderArchive: o.senderArchive === true ? ownArchiveTarget(from) : undefined,
    plaintext,
    contentType: 'application/octet-stream',
    messageId: o.messageId,
    now: () => now,
  });
}

/** Runs `fn` and returns the AppError it throws; fails the test if it resolves or throws another type. */
export async function appError(fn: () => unknown): Promise<AppError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw new Error(`expected an AppError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an AppError, but the call succeeded');
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const untext = (b: Uint8Array): string => new TextDecoder().decode(b);
