// Holds the write lock of a shard's databases as a node stopped inside a write would (run as its
// own OS process by shard-open-lock.test.ts): BEGIN IMMEDIATE on DIR's fence.db and directory.db,
// prints LOCKED, and keeps the locks until it is killed.
import { join } from 'node:path';
import { initSodium } from '../../../src/keys/index.js';
import { directoryDbKey } from '../../../src/shards/index.js';
import { openEncryptedDb } from '../../../src/sqlite/index.js';
import { blake2b } from '../../../src/keys/index.js';

await initSodium();
const dir = process.env.DIR ?? '';
const master = new Uint8Array(32).fill(5);
const fenceKey = blake2b(32, new TextEncoder().encode('sealpost/v1/shard-fence'), master);
const files = (process.env.FILES ?? 'directory.db').split(',');
const held = files.map((f) => {
  const db = openEncryptedDb({ path: join(dir, f), key: f === 'fence.db' ? fenceKey : directoryDbKey(master), cipher: 'chacha20' });
  db.exec('BEGIN IMMEDIATE');
  return db;
});
process.stdout.write(`LOCKED ${held.length}\n`);
setInterval(() => undefined, 1000);
