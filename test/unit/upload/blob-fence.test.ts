// Blobs in a shard are fenced like its SQLite writes (issue 15): a node whose lease was taken over
// can neither create, record, remove nor fill a blob, over the store or over its HTTP listener;
// the shard's new owner can, and finds the blob untouched by the old one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore, type BlobMeta } from '../../../src/archive/index.js';
import { initSodium } from '../../../src/keys/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { BLOB_READS, BLOB_WRITES, blobFenceOf, openShardStores, type Lease, type ShardStores } from '../../../src/shards/index.js';
import { createUploadServer } from '../../../src/upload/http.js';
import { tokenKey } from '../../../src/upload/tokens.js';

const MASTER = new Uint8Array(32).fill(5);
const BOB = 'bob@example.org';

function put(server: Server, path: string, token: string, body: Buffer, start = 0, total = body.length): Promise<{ status: number; received: string | undefined }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'PUT', headers: {
      authorization: `Bearer ${token}`,
      'content-length': String(body.length),
      'content-range': `bytes ${start}-${start + body.length - 1}/${total}`,
      'x-sealpost-sha256': createHash('sha256').update(body).digest('base64'),
    } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, received: res.headers['x-sealpost-received'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('blobs under the shard fence', () => {
  beforeAll(() => initSodium());
  const dirs: string[] = [];
  const open: ShardStores[] = [];
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    for (const s of open.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const node = async (dir: string, lease: Lease): Promise<ShardStores> => {
    const r = await openShardStores({ shard: 0, dir, masterKey: MASTER, cipher: 'chacha20', lease, logger: silentLogger() });
    if (!r.started) throw new Error('stale lease');
    open.push(r.stores);
    return r.stores;
  };
  const listen = async (s: ShardStores): Promise<Server> => {
    const server = createUploadServer({ archive: s.archive, logger: silentLogger() });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    servers.push(server);
    return server;
  };
  const meta = (size: number, token: string): BlobMeta => ({
    owner: BOB, sender: 'alice@example.org', messageId: 'message-0001', size, received: 0,
    putKey: tokenKey(token), getKey: tokenKey(randomBytes(8).toString('hex')), createdAt: Date.now(), referenced: false, complete: false,
  });

  // A new BlobStore method fails this until src/shards/stores.ts lists it as a write (fenced) or a read.
  it('knows every method of the blob store as a write or a read', () => {
    const methods = Object.getOwnPropertyNames(BlobStore.prototype).filter((n) => n !== 'constructor' && n !== 'dir' && n !== 'file');
    expect(methods.sort()).toEqual([...BLOB_WRITES, ...BLOB_READS].sort());
  });

  it('refuses every blob write of a node past its lease; the new owner writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-blobfence-'));
    dirs.push(dir);
    const a = await node(dir, { shard: 0, node: 'n-a', epoch: 1, expiresAt: Number.POSITIVE_INFINITY });
    const hash = a.archive.userHash(BOB);
    const slot = randomBytes(16).toString('base64url');
    const token = randomBytes(32).toString('base64url');
    const body = randomBytes(200_000);
    a.archive.blobs.create(hash, slot, meta(body.length, token));
    const writesBefore = a.fence.history().at(-1)?.count ?? 0;
    expect(writesBefore).toBeGreaterThanOrEqual(1); // the slot's creation was a fenced write
    const serverA = await listen(a);
    const path = `/files/0/${hash}/${slot}`;
    expect(await put(serverA, path, token, body.subarray(0, 100_000), 0, body.length)).toEqual({ status: 200, received: '100000' });

    // Node b takes the shard over (epoch 2): node a still runs, with its stores and listener open.
    const b = await node(dir, { shard: 0, node: 'n-b', epoch: 2, expiresAt: Number.POSITIVE_INFINITY });
    const other = randomBytes(16).toString('base64url');
    expect(() => a.archive.blobs.create(hash, other, meta(10, token))).toThrow(/superseded/);
    expect(() => a.archive.blobs.write(hash, slot, { ...meta(body.length, token), received: body.length, complete: true })).toThrow(/superseded/);
    expect(() => a.archive.blobs.remove(hash, slot)).toThrow(/superseded/);
    expect(() => a.archive.blobs.removeUser(hash)).toThrow(/superseded/);
    const fence = blobFenceOf(a.archive.blobs);
    let ran = false;
    expect(() => fence?.underFence(hash, () => (ran = true))).toThrow(/superseded/);
    expect(ran).toBe(false);
    expect(() => fence?.checkFence(hash)).toThrow(/superseded/);
    // Over HTTP: the rest of the body to a's listener is refused (503: ask again, at the owner).
    expect((await put(serverA, path, token, body.subarray(100_000), 100_000, body.length)).status).toBe(503);
    const blobPath = b.archive.blobs.dataPath(hash, slot);
    expect(statSync(blobPath).size).toBe(100_000);
    expect(b.archive.blobs.read(hash, slot)?.received).toBe(100_000);
    expect(b.archive.blobs.list(hash)).toEqual([slot]);

    // The new owner's listener takes it from there; the blob is exactly the body.
    const serverB = await listen(b);
    expect(await put(serverB, path, token, body.subarray(100_000), 100_000, body.length)).toEqual({ status: 201, received: String(body.length) });
    expect(readFileSync(blobPath).equals(body)).toBe(true);
    expect(b.fence.history().map((e) => e.node)).toEqual(['n-a', 'n-b']);
  });

  it('refuses blob writes once the lease expired on the local clock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-blobfence-'));
    dirs.push(dir);
    const lease: Lease = { shard: 0, node: 'n-a', epoch: 1, expiresAt: Date.now() + 60_000 };
    const a = await node(dir, lease);
    const hash = a.archive.userHash(BOB);
    const slot = randomBytes(16).toString('base64url');
    const token = randomBytes(32).toString('base64url');
    a.archive.blobs.create(hash, slot, meta(1000, token));
    lease.expiresAt = Date.now() - 1;
    const server = await listen(a);
    expect((await put(server, `/files/0/${hash}/${slot}`, token, randomBytes(1000))).status).toBe(503);
    expect(() => a.archive.blobs.remove(hash, slot)).toThrow(/lease expired/);
    expect(statSync(a.archive.blobs.dataPath(hash, slot)).size).toBe(0);
  });
});
