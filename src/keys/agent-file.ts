// An agent's key state and seen message ids in one encrypted key store file (issue 3, "agent key
// store" and "replay store ... persisted in the key store state"). Every change to prekeys (an OPK
// erased after open, a rotation) and every accepted message id is saved before it takes effect.
import { AppError, ErrorCode } from '../errors/index.js';
import { KeyRing } from './keyring.js';
import { KeyStoreFile, type KeyStoreSecret } from './keystore.js';
import { MemoryReplayStore, type ReplayStore, type SeenEntry } from './replay.js';
import { wipe } from './sodium.js';
import { decodeAgentSecrets, encodeAgentSecrets } from './state-codec.js';
import { wipeAgentKeys, type AgentKeyState } from './state.js';

export class AgentKeyFile {
  readonly keyring: KeyRing;
  readonly replay: ReplayStore;
  private readonly seen: MemoryReplayStore;
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: KeyStoreFile,
    keys: AgentKeyState,
    seen: readonly SeenEntry[],
  ) {
    this.keyring = new KeyRing(keys, () => this.save());
    this.seen = new MemoryReplayStore(seen);
    this.replay = {
      has: (sender, id) => this.seen.has(sender, id),
      add: async (entry) => {
        const fresh = await this.seen.add(entry);
        if (fresh) await this.save();
        return fresh;
      },
      prune: async (before) => {
        await this.seen.prune(before);
        await this.save();
      },
    };
  }

  /** Writes a new key file for `keys` (mode 0600). */
  static async create(path: string, secret: KeyStoreSecret, keys: AgentKeyState): Promise<AgentKeyFile> {
    const bytes = encodeAgentSecrets({ keys, seen: [] });
    try {
      const file = await KeyStoreFile.create(path, secret, bytes);
      return new AgentKeyFile(file, keys, []);
    } finally {
      wipe(bytes);
    }
  }

  /** Opens an existing key file; WrongKey for a wrong passphrase, Corrupt for a damaged file. */
  static async open(path: string, secret: KeyStoreSecret, options: { checkMode?: boolean } = {}): Promise<AgentKeyFile> {
    const { file, plaintext } = await KeyStoreFile.open(path, secret, options);
    try {
      const { keys, seen } = decodeAgentSecrets(plaintext);
      return new AgentKeyFile(file, keys, seen);
    } catch (cause) {
      file.close();
      if (AppError.is(cause, ErrorCode.Corrupt)) throw cause;
      throw new AppError(ErrorCode.Corrupt, `key store ${path}: contents are malformed`, { cause });
    } finally {
      wipe(plaintext);
    }
  }

  get state(): AgentKeyState {
    return this.keyring.state;
  }

  /** Saves the current state; saves are serialised, each writes the newest state. */
  save(): Promise<void> {
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        const bytes = encodeAgentSecrets({ keys: this.keyring.state, seen: this.seen.entries() });
        try {
          await this.file.write(bytes);
        } finally {
          wipe(bytes);
        }
      });
    return this.saving;
  }

  /** Wipes the key state and the file key from memory. */
  close(): void {
    wipeAgentKeys(this.keyring.state);
    this.file.close();
  }
}
