// Archive write throughput: idempotent stores of 1 KiB sealed items (each commit fsynced:
// synchronous=FULL) into one user, and spread over 1,000 users through an LRU of 64 handles.
// Run: npx tsx bench/archive.ts [items]   (prints figures only; temp dir removed afterwards)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArchiveStore, type ArchiveStore, type IncomingItem } from '../src/archive/index.js';

const N = Number(process.argv[2] ?? 2000);

function item(i: number): IncomingItem {
  return {
    sender: 'alice@example.org',
    senderDevice: 1,
    messageId: `m${i}`,
    suite: 'sp1',
    payload: new Uint8Array(randomBytes(1024)),
    deviceBlocks: [{ deviceId: 2, prekeyId: 7, block: new Uint8Array(randomBytes(200)) }],
    archiveBlock: { akId: 1, block: new Uint8Array(randomBytes(200)) },
  };
}

function rate(n: number, fn: (i: number) => void): string {
  const t = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return `${(n / ((performance.now() - t) / 1000)).toFixed(0).padStart(7)} stores/s`;
}

function run(label: string, store: ArchiveStore, n: number, owner: (i: number) => string, offset = 0): void {
  const items = Array.from({ length: n }, (_, i) => item(offset + i));
  const fresh = rate(n, (i) => store.storeIncoming(owner(i), items[i] as IncomingItem));
  const repeat = rate(n, (i) => store.storeIncoming(owner(i), items[i] as IncomingItem));
  console.log(`${label.padEnd(50)} new: ${fresh}   repeat (idempotent no-op): ${repeat}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-'));
  try {
    for (const cipher of ['chacha20', 'aegis'] as const) {
      const store = await createArchiveStore({ dir: join(dir, cipher), masterKey: new Uint8Array(randomBytes(32)), cipher, maxOpen: 64 });
      run(`${cipher}, one user, ${N} items`, store, N, () => 'bob@example.org');
      const users = (i: number) => `user${i % 1000}@example.org`;
      run(`${cipher}, 1,000 users, LRU 64, first item each`, store, 1000, users);
      // Round-robin over 1,000 users misses the 64-handle LRU on every store: the worst case.
      run(`${cipher}, 1,000 users, LRU 64, every store a miss`, store, N, users, 1000);
      store.close();
    }
    console.log(`(1 KiB payload + 2 × 200 B key blocks per item; temp dir on ${tmpdir()})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
