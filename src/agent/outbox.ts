// The sender's outbox (invariant 2: until its receipt, the sender's SDK keeps and resends a
// submission): sealed submissions (ciphertext only), written and fsynced before the first send,
// removed when the vault's receipt or a final refusal arrives. A batch of submissions sent in one
// stanza (issue 9) is one file, written with one fsync and removed when its last entry is settled.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export interface OutboxEntry {
  messageId: string;
  recipient: string;
  /** The submission stanza of this entry alone (XML text; sealed content only): what a resend sends. */
  stanza: string;
  createdAt: number;
}

const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** One entry: `<message id>.json`; a batch: `<first message id>.batch` holding a JSON array. */
const SINGLE = '.json';
const BATCH = '.batch';

export class Outbox {
  /** The file of each pending entry, and the pending entries of each batch file, as far as known. */
  private readonly fileOf = new Map<string, string>();
  private readonly pendingIn = new Map<string, Set<string>>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private name(messageId: string, suffix: string): string {
    if (!SAFE_ID.test(messageId)) throw new RangeError('outbox: message id must be base64url, at most 64 characters');
    return `${messageId}${suffix}`;
  }

  /**
   * Durably records an entry (write, fsync, rename, fsync the folder) without blocking the event
   * loop, so many concurrent sends do not stall receipts and deliveries.
   */
  async put(entry: OutboxEntry): Promise<void> {
    await this.write(this.name(entry.messageId, SINGLE), JSON.stringify(entry));
  }

  /** Durably records the entries of one batch in one file (one fsync for all). */
  async putMany(entries: readonly OutboxEntry[]): Promise<void> {
    const first = entries[0];
    if (first === undefined) return;
    if (entries.length === 1) return this.put(first);
    const file = this.name(first.messageId, BATCH);
    for (const e of entries) this.name(e.messageId, BATCH); // every id checked before anything is written
    await this.write(file, JSON.stringify(entries));
    this.pendingIn.set(file, new Set(entries.map((e) => e.messageId)));
    for (const e of entries) this.fileOf.set(e.messageId, file);
  }

  private async write(file: string, text: string): Promise<void> {
    const final = join(this.dir, file);
    const temp = `${final}.tmp`;
    const fh = await open(temp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, final);
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Settles an entry; a batch file goes once none of its entries is pending. */
  remove(messageId: string): void {
    const file = this.fileOf.get(messageId);
    if (file === undefined) {
      rmSync(join(this.dir, this.name(messageId, SINGLE)), { force: true });
      return;
    }
    this.fileOf.delete(messageId);
    const left = this.pendingIn.get(file);
    left?.delete(messageId);
    if (left === undefined || left.size === 0) {
      this.pendingIn.delete(file);
      rmSync(join(this.dir, file), { force: true });
    }
  }

  has(messageId: string): boolean {
    return this.list().some((e) => e.messageId === messageId);
  }

  /** Every pending entry, oldest first; unreadable leftovers (a crash mid-write) are skipped. */
  list(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const name of readdirSync(this.dir)) {
      try {
        if (name.endsWith(SINGLE)) out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as OutboxEntry);
        else if (name.endsWith(BATCH)) out.push(...this.batchEntries(name));
      } catch {
        // a torn temp file never gets the final name; anything else unreadable is left for inspection
      }
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** The pending entries of a batch file; one left by an earlier run is taken over (all pending). */
  private batchEntries(file: string): OutboxEntry[] {
    const entries = JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as OutboxEntry[];
    let left = this.pendingIn.get(file);
    if (left === undefined) {
      left = new Set(entries.map((e) => e.messageId));
      this.pendingIn.set(file, left);
      for (const e of entries) this.fileOf.set(e.messageId, file);
    }
    const pending = left;
    return entries.filter((e) => pending.has(e.messageId));
  }

  /** Pending entries. */
  get size(): number {
    return this.list().length;
  }
}
