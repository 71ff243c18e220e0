// The recipient's view of its own prekeys during `open` (design.md, "Cryptographic construction",
// step 5): find the secret for a prekey id, and erase a one-time prekey only once every check
// passed. A small interface (as libsignal's PreKeyStore) with an implementation over the key state.
import type { ArchiveSuite } from './archive-suite.js';
import { consumeOneTimePrekey, type AgentKeyState } from './state.js';

export type DevicePrekey =
  | { readonly kind: 'opk'; readonly id: number; readonly publicKey: Uint8Array; readonly secretKey: Uint8Array }
  | {
      readonly kind: 'spk';
      readonly id: number;
      readonly publicKey: Uint8Array;
      /** null once erased after its grace period. */
      readonly secretKey: Uint8Array | null;
      readonly expires: number;
    };

export interface ArchiveSecret {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
  /** Absent: "sp1" (X25519). */
  readonly suite?: ArchiveSuite;
}

export interface PrekeyStore {
  /** A signed or one-time prekey of this device by id; undefined when unknown or used. */
  devicePrekey(id: number): Promise<DevicePrekey | undefined>;
  archiveKey(id: number): Promise<ArchiveSecret | undefined>;
  /** Erases the one-time prekey's secret (called by `open` after all checks passed). */
  consumeOneTimePrekey(id: number): Promise<void>;
}

/** A PrekeyStore over an AgentKeyState; `persist` is called with each new state (e.g. a key file). */
export class KeyRing implements PrekeyStore {
  constructor(
    private current: AgentKeyState,
    private readonly persist?: (state: AgentKeyState) => Promise<void>,
  ) {}

  get state(): AgentKeyState {
    return this.current;
  }

  /** Replaces the state (after rotation or a top-up) and persists it. */
  async update(fn: (state: AgentKeyState) => AgentKeyState): Promise<AgentKeyState> {
    this.current = fn(this.current);
    await this.persist?.(this.current);
    return this.current;
  }

  devicePrekey(id: number): Promise<DevicePrekey | undefined> {
    const opk = this.current.oneTimePrekeys.find((p) => p.id === id);
    if (opk !== undefined) return Promise.resolve({ kind: 'opk', id, publicKey: opk.publicKey, secretKey: opk.secretKey });
    const spk = this.current.signedPrekeys.find((s) => s.id === id);
    if (spk !== undefined)
      return Promise.resolve({ kind: 'spk', id, publicKey: spk.publicKey, secretKey: spk.secretKey, expires: spk.expires });
    return Promise.resolve(undefined);
  }

  archiveKey(id: number): Promise<ArchiveSecret | undefined> {
    const ak = this.current.archiveKey;
    if (ak !== undefined && ak.id === id) return Promise.resolve(ak);
    // An earlier archive key the user still keeps opens the history sealed to it.
    return Promise.resolve(this.current.retiredArchiveKeys?.find((k) => k.id === id));
  }

  async consumeOneTimePrekey(id: number): Promise<void> {
    await this.update((s) => consumeOneTimePrekey(s, id));
  }
}
