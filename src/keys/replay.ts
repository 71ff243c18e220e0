// Replay protection (design.md, "Cryptographic construction", step 5: "the message id is new";
// invariant 3: duplicates dropped by message id). Keys are (sender bare JID, message id); entries
// older than the accepted timestamp window can be pruned, since such messages are refused anyway.
export interface SeenEntry {
  readonly sender: string;
  readonly messageId: string;
  /** The message's signed timestamp (ms). */
  readonly timestamp: number;
}

export interface ReplayStore {
  has(sender: string, messageId: string): Promise<boolean>;
  /** Records the id; false when it was already recorded (atomic check-and-set). */
  add(entry: SeenEntry): Promise<boolean>;
  /** Forgets entries whose timestamp is before `before`. */
  prune(before: number): Promise<void>;
}

const keyOf = (sender: string, messageId: string): string => `${messageId} ${sender}`;

/** In-memory replay store; `entries()` and the constructor let it be persisted in the key store. */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, SeenEntry>();

  constructor(entries: Iterable<SeenEntry> = []) {
    for (const e of entries) this.seen.set(keyOf(e.sender, e.messageId), e);
  }

  has(sender: string, messageId: string): Promise<boolean> {
    return Promise.resolve(this.seen.has(keyOf(sender, messageId)));
  }

  add(entry: SeenEntry): Promise<boolean> {
    return Promise.resolve(this.addNow(entry));
  }

  /** `add` without a promise: the caller's own bookkeeping then happens in the same tick. */
  addNow(entry: SeenEntry): boolean {
    const k = keyOf(entry.sender, entry.messageId);
    if (this.seen.has(k)) return false;
    this.seen.set(k, { sender: entry.sender, messageId: entry.messageId, timestamp: entry.timestamp });
    return true;
  }

  prune(before: number): Promise<void> {
    this.pruneNow(before);
    return Promise.resolve();
  }

  pruneNow(before: number): void {
    for (const [k, e] of this.seen) if (e.timestamp < before) this.seen.delete(k);
  }

  entries(): SeenEntry[] {
    return [...this.seen.values()];
  }

  get size(): number {
    return this.seen.size;
  }
}
