import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveStore } from '../../../src/archive/index.js';
import { AppError } from '../../../src/errors/index.js';
import { initSodium } from '../../../src/keys/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { ARCHIVE_READS, ARCHIVE_VIEWS, ARCHIVE_WRITES, DIRECTORY_READS, DIRECTORY_WRITES, openShardStores, type Lease, type ShardStores } from '../../../src/shards/index.js';
import { incoming } from '../archive/helpers.js';

const MASTER = new Uint8Array(32).fill(5);
// Private helpers of ArchiveStore (on its prototype at run time); not part of the API.
const ARCHIVE_PRIVATE = ['constructor', 'refuseOrphanedArchives', 'open', 'use', 'must', 'failed', 'removeFiles', 'storeMany'];

describe('shard stores', () => {
  beforeAll(() => initSodium());
  const dirs: string[] = [];
  const open: ShardStores[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const shardDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'sealpost-shard-'));
    dirs.push(d);
    return d;
  };
  const node = async (dir: string, lease: Lease, master = MASTER): Promise<ShardStores> => {
    const r = await openShardStores({ shard: lease.shard, dir, masterKey: master, cipher: 'chacha20', lease, logger: silentLogger() });
    if (!r.started) throw new Error(`stale lease: the fence holds epoch ${r.fenceEpoch}`);
    open.push(r.stores);
    return r.stores;
  };

  // A new method of ArchiveStore or DirectoryStore fails this until it is listed in
  // src/shards/stores.ts: as a write (then it runs inside the shard's fence) or as a read.
  it('knows every method of the archive and the directory as a write or a read', async () => {
    const archiveMethods = Object.getOwnPropertyNames(ArchiveStore.prototype).filter((n) => !ARCHIVE_PRIVATE.includes(n));
    expect([...archiveMethods].sort()).toEqual([...ARCHIVE_WRITES, ...ARCHIVE_READS, ...ARCHIVE_VIEWS].filter((n) => n !== 'limits').sort());
    const s = await node(shardDir(), { shard: 0, node: 'n-a', epoch: 1, expiresAt: Number.POSITIVE_INFINITY });
    expect(Object.keys(s.directory).sort()).toEqual([...DIRECTORY_WRITES, ...DIRECTORY_READS].sort());
  });

  it('refuses every write of a node whose epoch was superseded; reads still work; the new owner writes', async () => {
    const dir = shardDir();
    const leaseA: Lease = { shard: 3, node: 'n-a', epoch: 1, expiresAt: Number.POSITIVE_INFINITY };
    const a = await node(dir, leaseA);
    expect(a.fence.claim(leaseA)).toBe(true);
    expect(a.archive.storeIncoming('bob@example.org', incoming('alice@example.org', 'm1')).inserted).toBe(true);

    const leaseB: Lease = { shard: 3, node: 'n-b', epoch: 2, expiresAt: Number.POSITIVE_INFINITY };
    const b = await node(dir, leaseB); // the re-attached volume
    expect(b.fence.claim(leaseB)).toBe(true);
    expect(() => a.archive.storeIncoming('bob@example.org', incoming('alice@example.org', 'm2'))).toThrow(AppError);
    expect(() => a.archive.setRetention('bob@example.org', 60)).toThrow(/superseded/);
    expect(() => a.directory.remove('bob@example.org', 1)).toThrow(/superseded/);
    expect(a.archive.pendingCounts('bob@example.org').messages).toBe(1); // reading is not writing
    expect(b.archive.storeIncoming('bob@example.org', incoming('alice@example.org', 'm3')).inserted).toBe(true);
    expect(b.archive.query('bob@example.org', { max: 10 }).items.map((i) => i.messageId)).toEqual(['m1', 'm3']);
    // A stale lease opens nothing: A coming back with epoch 1 gets told the fence's epoch.
    const again = await openShardStores({ shard: 3, dir, masterKey: MASTER, cipher: 'chacha20', lease: leaseA, logger: silentLogger() });
    expect(again).toEqual({ started: false, fenceEpoch: 2 });
  });

  it('refuses writes once the lease has expired on the local clock', async () => {
    const lease: Lease = { shard: 0, node: 'n-a', epoch: 1, expiresAt: Date.now() - 1 };
    const s = await node(shardDir(), lease);
    expect(s.fence.claim(lease)).toBe(true);
    expect(() => s.archive.storeIncoming('bob@example.org', incoming('alice@example.org', 'm1'))).toThrow(/lease expired/);
  });

  it('countersigns with one server key derived from the master key on every shard and node', async () => {
    const lease = (shard: number): Lease => ({ shard, node: 'n-a', epoch: 1, expiresAt: Number.POSITIVE_INFINITY });
    const one = await node(shardDir(), lease(1));
    const two = await node(shardDir(), lease(2));
    const other = await node(shardDir(), lease(1), new Uint8Array(32).fill(6));
    expect(Buffer.from(one.directory.serverPublicKey)).toEqual(Buffer.from(two.directory.serverPublicKey));
    expect(Buffer.from(other.directory.serverPublicKey)).not.toEqual(Buffer.from(one.directory.serverPublicKey));
  });
});
