// A worker node paused past its lease writes nothing after it wakes (issue 15): node A, its own OS
// process, owns shard 0 and writes to it every 20 ms; SIGSTOP; node B takes the shard over once the
// lease time has passed (the shard's directory stands in for a re-attached volume) and writes;
// SIGCONT: A's timers fire at once and try to write, and the shard refuses every one of them (a
// write A was stopped in the middle of began under its lease and commits before B's claim).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createOwnerLoop, openShardStores, redisLeaseStore, type ShardStores } from '../../src/shards/index.js';
import { createRedis, redisReady } from '../../src/workers/index.js';
import { incoming } from '../unit/archive/helpers.js';
import { services, uniqueQueueName } from './helpers.js';

const TTL = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a paused owner', () => {
  it('writes nothing after SIGCONT once another node took its shard over', async () => {
    await initSodium();
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-pause-'));
    const prefix = uniqueQueueName();
    const redis = createRedis(services().redisUrl, 'producer');
    await redisReady(redis);
    let out = '';
    const a = spawn(process.execPath, ['--import', 'tsx', 'test/integration/shard-writer.ts'], {
      env: { ...process.env, REDIS_URL: services().redisUrl, PREFIX: prefix, DIR: dir, NODE: 'n-a', TTL_MS: String(TTL) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    a.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let b: ShardStores | undefined;
    let bLeased: number | undefined; // when B first got the lease (start() runs only then)
    let bStarts = 0; // more than 1: A was stopped holding the shard's lock, B retried
    const loopB = createOwnerLoop({
      node: 'n-b',
      leases: redisLeaseStore(redis, prefix),
      ttlMs: TTL,
      candidates: () => [0],
      logger: silentLogger(),
      async start(lease) {
        bLeased ??= Date.now();
        bStarts++;
        const r = await openShardStores({ shard: 0, dir, masterKey: new Uint8Array(32).fill(5), cipher: 'chacha20', lease, logger: silentLogger() });
        if (!r.started) return r;
        const s = r.stores;
        b = s;
        return { started: true };
      },
      stop: () => {
        b?.close();
        b = undefined;
        return Promise.resolve();
      },
    });
    onTestFinished(async () => {
      a.kill('SIGKILL');
      await loopB.close();
      await redis.quit();
      rmSync(dir, { recursive: true, force: true });
    });

    await expect.poll(() => (out.match(/^W /gm) ?? []).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(5);
    a.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await loopB.tick(); // A's lease is still live: B gets nothing yet
    expect(b).toBeUndefined();
    loopB.run();
    // A's lease runs out in Redis and B holds it; B may still wait for the shard itself when A was
    // stopped inside a write (it holds the fence's lock): that write began under A's lease and
    // commits when A wakes, before B's claim; nothing A begins after waking commits.
    await expect.poll(() => bLeased, { timeout: TTL * 4 }).toBeTypeOf('number');
    const leaseGoneAt = bLeased as number;
    expect(leaseGoneAt - stoppedAt).toBeGreaterThanOrEqual(TTL * 0.5);
    await sleep(300);
    const before = out.length;
    a.kill('SIGCONT');
    await expect.poll(() => b !== undefined, { timeout: 15_000 }).toBe(true);
    await expect.poll(() => out.slice(before).includes('STOPPED'), { timeout: 10_000 }).toBe(true);
    const owner = b as unknown as ShardStores;
    for (let i = 0; i < 5; i++) owner.archive.storeIncoming('bob@example.org', incoming('alice@example.org', `n-b-${i}`, [101], { receivedAt: Date.now() }));
    await sleep(200);
    const after = out.slice(before);
    process.stderr.write(`[pause] B held the lease ${leaseGoneAt - stoppedAt} ms after A stopped (${bStarts} start attempts); A after SIGCONT: ${(after.match(/^R /gm) ?? []).length} writes refused, ${(after.match(/^W /gm) ?? []).length} committed (at most one, begun before the stop)\n`);

    // The shard's rows: every one of A's was begun before it was stopped; B's five are all there.
    const rows = owner.archive.query('bob@example.org', { max: 1000 }).items;
    const aRows = rows.filter((r) => r.messageId.startsWith('n-a-'));
    expect(aRows.length).toBeGreaterThanOrEqual(5);
    for (const r of aRows) expect(r.timestamp).toBeLessThanOrEqual(stoppedAt);
    expect((after.match(/^W /gm) ?? []).length).toBeLessThanOrEqual(1);
    expect(rows.filter((r) => r.messageId.startsWith('n-b-'))).toHaveLength(5);
    expect(owner.fence.current().node).toBe('n-b');
  });
});
