// The sender's outbox (invariant 2: until its receipt, the sender's SDK keeps and resends a
// submission): one file per sealed submission (ciphertext only), written and fsynced before the
// first send, removed when the vault's receipt or a final refusal arrives.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export interface OutboxEntry {
  messageId: string;
  recipient: string;
  /** The submission stanza as sent (XML text; sealed content only). */
  stanza: string;
  createdAt: number;
}

const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class Outbox {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private path(messageId: string): string {
    if (!SAFE_ID.test(messageId)) throw new RangeError('outbox: message id must be base64url, at most 64 characters');
    return join(this.dir, `${messageId}.json`);
  }

  /**
   * Durably records an entry (write, fsync, rename, fsync the folder) without blocking the event
   * loop, so many concurrent sends do not stall receipts and deliveries.
   */
  async put(entry: OutboxEntry): Promise<void> {
    const final = this.path(entry.messageId);
    const temp = `${final}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(entry));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, final);
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  remove(messageId: string): void {
    rmSync(this.path(messageId), { force: true });
  }

  has(messageId: string): boolean {
    return this.list().some((e) => e.messageId === messageId);
  }

  /** Every pending entry, oldest first; unreadable leftovers (a crash mid-write) are skipped. */
  list(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as OutboxEntry);
      } catch {
        // a torn temp file never gets the .json name; anything else unreadable is left for inspection
      }
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  get size(): number {
    return readdirSync(this.dir).filter((n) => n.endsWith('.json')).length;
  }
}
