// A bounded LRU of open user archives (design.md "Storage": 100k users must not mean 100k open
// files). Opening one more than `max` closes the least recently used handle that is not in use;
// SQLite checkpoints the WAL into the main file when the last connection closes.
import type { Logger } from '../log/index.js';
import type { UserDb } from './user-db.js';

interface Entry {
  handle: UserDb;
  /** Calls currently running on this handle; such a handle is never closed under them. */
  busy: number;
}

export class HandlePool {
  // Map iteration order is insertion order: the first key is the least recently used.
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly max: number,
    private readonly logger: Logger,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxOpen: expected an integer ≥ 1');
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `fn` on the user's handle, opening it with `open` when it is not in the pool. Undefined
   * from `open` means "no such archive": then `fn` does not run and the result is undefined.
   */
  use<T>(hash: string, open: () => UserDb | undefined, fn: (u: UserDb) => T): { value: T } | undefined {
    let entry = this.entries.get(hash);
    if (entry !== undefined) {
      this.entries.delete(hash);
      this.entries.set(hash, entry);
    } else {
      this.makeRoom();
      const handle = open();
      if (handle === undefined) return undefined;
      entry = { handle, busy: 0 };
      this.entries.set(hash, entry);
    }
    entry.busy++;
    try {
      return { value: fn(entry.handle) };
    } finally {
      entry.busy--;
    }
  }

  /** Closes and forgets one handle; false when it is in use (e.g. called from inside `use`). */
  remove(hash: string): boolean {
    const entry = this.entries.get(hash);
    if (entry === undefined) return true;
    if (entry.busy > 0) return false;
    this.entries.delete(hash);
    this.closeQuietly(hash, entry);
    return true;
  }

  /** The user's open handle, if any, without using it or changing its place in the LRU. */
  peek(hash: string): UserDb | undefined {
    return this.entries.get(hash)?.handle;
  }

  /** Forgets one handle without closing it, for a caller that closes it; undefined when absent or in use. */
  take(hash: string): UserDb | undefined {
    const entry = this.entries.get(hash);
    if (entry === undefined || entry.busy > 0) return undefined;
    this.entries.delete(hash);
    return entry.handle;
  }

  has(hash: string): boolean {
    return this.entries.has(hash);
  }

  closeAll(): void {
    for (const [hash, entry] of this.entries) this.closeQuietly(hash, entry);
    this.entries.clear();
  }

  private makeRoom(): void {
    if (this.entries.size < this.max) return;
    for (const [hash, entry] of this.entries) {
      if (entry.busy > 0 || entry.handle.inTransaction) continue;
      this.entries.delete(hash);
      this.closeQuietly(hash, entry);
      if (this.entries.size < this.max) return;
    }
    this.logger.warn({ open: this.entries.size, max: this.max }, 'every archive handle is in use; over the limit');
  }

  private closeQuietly(hash: string, entry: Entry): void {
    try {
      entry.handle.close();
    } catch (err) {
      this.logger.warn({ userHash: hash, err }, 'closing an archive handle failed');
    }
  }
}
