// Archive key management in the SDK (issue 7): create the account's archive key, rotate it (new
// history copies are sealed to the new key once the bundle is republished; old copies stay
// readable while the old key is kept), forget an old key, and move every key to a second device
// through a passphrase-encrypted export (Argon2id). Each change is saved to the key file before
// anything is published, and the bundle is republished whenever the current key changes.
import {
  archiveKeyList,
  createArchiveKey,
  exportArchiveKeys,
  forgetArchiveKey,
  importArchiveKeys,
  rotateArchiveKey,
  type ArchiveKeyImport,
  type ArchiveKeyInfo,
  type ArchiveSuite,
  type KeyRing,
  type PwhashLimits,
} from '../keys/index.js';

export interface ArchiveKeyDeps {
  keyring: KeyRing;
  /** Publishes this device's bundle (with the current archive key) to the directory. */
  publish(): Promise<void>;
}

export class ArchiveKeys {
  constructor(private readonly deps: ArchiveKeyDeps) {}

  /** The current key first, then the retired ones (public parts only). */
  list(): ArchiveKeyInfo[] {
    return archiveKeyList(this.deps.keyring.state);
  }

  /** The id new history copies are sealed to, if the account has an archive key. */
  get currentId(): number | undefined {
    return this.deps.keyring.state.archiveKey?.id;
  }

  /** Generates the account's first archive key (X-Wing unless `suite` says "sp1") and publishes it. */
  async create(suite?: ArchiveSuite): Promise<number> {
    const state = await this.deps.keyring.update((s) => createArchiveKey(s, suite));
    await this.deps.publish();
    return state.archiveKey?.id ?? 0;
  }

  /** A new current key (next id; X-Wing unless `suite` says "sp1"), published; the previous one is kept for reading. */
  async rotate(suite?: ArchiveSuite): Promise<number> {
    const state = await this.deps.keyring.update((s) => rotateArchiveKey(s, suite));
    await this.deps.publish();
    return state.archiveKey?.id ?? 0;
  }

  /** Erases a retired key: history sealed to it can no longer be read on this device. */
  async forget(id: number): Promise<void> {
    await this.deps.keyring.update((s) => forgetArchiveKey(s, id));
  }

  /** Every archive key, encrypted under `passphrase` (Argon2id), for another device of the account. */
  export(passphrase: string | Uint8Array, options: { limits?: PwhashLimits } = {}): Uint8Array {
    return exportArchiveKeys(this.deps.keyring.state, passphrase, options);
  }

  /** Adds the keys of an export; republishes when its current key becomes ours. */
  async import(bytes: Uint8Array, passphrase: string | Uint8Array): Promise<ArchiveKeyImport> {
    let result: ArchiveKeyImport | undefined;
    await this.deps.keyring.update((s) => {
      result = importArchiveKeys(s, bytes, passphrase);
      return result.state;
    });
    if (result === undefined) throw new TypeError('archive key import: no result');
    if (result.currentChanged) await this.deps.publish();
    return result;
  }
}
