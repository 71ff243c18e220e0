// An agent's key state and seen message ids in one encrypted key store file (issue 3, "agent key
// store" and "replay store ... persisted in the key store state"). Every change to prekeys (an OPK
// erased after open, a rotation) and every accepted message id is saved before it takes effect.
import { AppError, ErrorCode } from '../errors/index.js';
import { KeyRing } from './keyring.js';
import { KeyStoreFile, type KeyStoreSecret } from './keystore.js';
import { MemoryReplayStore, type ReplayStore, type SeenEntry } from './replay.js';
import { wipe } from './sodium.js';
import { decodeAgentSecrets, encodeAgentSecrets, encodeAgentState, SeenLog } from './state-codec.js';
import { wipeAgentKeys, type AgentKeyState } from './state.js';

export class AgentKeyFile {
  readonly keyring: KeyRing;
  readonly replay: ReplayStore;
  private readonly seen: MemoryReplayStore;
  /** The seen ids as the file stores them, appended to per accepted id (rebuilt on prune). */
  private seenLog: SeenLog;
  /** The write under way, and the one queued behind it (shared by every save asked for meanwhile). */
  private writing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  private constructor(
    private readonly file: KeyStoreFile,
    keys: AgentKeyState,
    seen: readonly SeenEntry[],
  ) {
    this.keyring = new KeyRing(keys, () => this.save());
    this.seen = new MemoryReplayStore(seen);
    this.seenLog = new SeenLog(this.seen.entries());
    this.replay = {
      has: (sender, id) => this.seen.has(sender, id),
      // The id map and its encoded log change together, in one tick.
      add: async (entry) => {
        if (!this.seen.addNow(entry)) return false;
        this.seenLog.add(entry);
        await this.save();
        return true;
      },
      prune: async (before) => {
        this.seen.pruneNow(before);
        this.seenLog = new SeenLog(this.seen.entries());
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

  /**
   * Saves the current state (group commit). Writes are serialised; a save asked for while one is
   * being written joins the next write, which encodes the state when it starts, so every change
   * made before `save()` was called is on disk when the returned promise resolves. Concurrent
   * saves (many received messages) then cost one write, not one each.
   */
  save(): Promise<void> {
    if (this.queued !== undefined) return this.queued;
    if (this.writing === undefined) return (this.writing = this.writeNow());
    const queued = this.writing.catch(() => undefined).then(() => {
      this.queued = undefined;
      return (this.writing = this.writeNow());
    });
    this.queued = queued;
    return queued;
  }

  /** Resolves when every save asked for so far has finished (rejects if the last one failed). */
  flushed(): Promise<void> {
    return this.queued ?? this.writing ?? Promise.resolve();
  }

  private writeNow(): Promise<void> {
    const bytes = encodeAgentState(this.keyring.state, this.seenLog);
    const done = (async () => {
      try {
        await this.file.write(bytes);
      } finally {
        wipe(bytes);
      }
    })();
    void done.then(
      () => this.settled(done),
      () => this.settled(done),
    );
    return done;
  }

  private settled(write: Promise<void>): void {
    if (this.writing === write) this.writing = undefined;
  }

  /** Wipes the key state and the file key from memory. */
  close(): void {
    wipeAgentKeys(this.keyring.state);
    this.file.close();
  }
}
