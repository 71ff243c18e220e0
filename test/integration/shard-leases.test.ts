// Shard leases on real Redis with real fence files (issue 15): one holder per shard, renewals,
// release, handover, the epoch counter raised past a fence, and a paused owner that cannot write
// once another node took its shard over after the lease time.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AppError } from '../../src/errors/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createOwnerLoop, leaseKeys, moveShard, openShardFence, redisLeaseStore, type Lease, type LeaseStore, type ShardFence } from '../../src/shards/index.js';
import { createRedis, redisReady, type Redis } from '../../src/workers/index.js';
import { services, uniqueQueueName } from './helpers.js';

const KEY = new Uint8Array(32).fill(9);
const TTL = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(shards: number): Promise<{ redis: Redis; prefix: string; leases: LeaseStore; fences: ShardFence[] }> {
  const redis = createRedis(services().redisUrl, 'producer');
  await redisReady(redis);
  const prefix = uniqueQueueName();
  const root = mkdtempSync(join(tmpdir(), 'sealpost-leases-'));
  const fences = Array.from({ length: shards }, (_, k) => {
    mkdirSync(join(root, String(k)));
    return openShardFence({ shard: k, dir: join(root, String(k)), key: KEY, cipher: 'chacha20' });
  });
  onTestFinished(async () => {
    for (const f of fences) f.close();
    rmSync(root, { recursive: true, force: true });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  return { redis, prefix, leases: redisLeaseStore(redis, prefix), fences };
}

function owner(name: string, leases: LeaseStore, fences: ShardFence[], events: string[]) {
  return createOwnerLoop({
    node: name,
    leases,
    ttlMs: TTL,
    candidates: () => fences.map((f) => f.shard),
    logger: silentLogger(),
    start: (lease) => {
      const fence = fences[lease.shard] as ShardFence;
      if (!fence.claim(lease)) return Promise.resolve({ started: false as const, fenceEpoch: fence.current().epoch });
      events.push(`${name} start ${lease.shard}@${lease.epoch}`);
      return Promise.resolve({ started: true as const });
    },
    stop: (shard, reason) => {
      events.push(`${name} stop ${shard} ${reason}`);
      return Promise.resolve();
    },
  });
}

describe('shard leases on Redis', () => {
  it('grants one holder per shard with rising epochs, renews only the holder, and keeps each shard in its own hash slot', async () => {
    const { redis, prefix, leases } = await setup(0);
    expect(leaseKeys(prefix, 3).every((k) => k.includes('{s3}'))).toBe(true);
    expect(await leases.acquire(3, 'n-a', TTL)).toBe(1);
    expect(await leases.acquire(3, 'n-b', TTL)).toBeUndefined();
    expect(await leases.holder(3)).toEqual({ node: 'n-a', epoch: 1 });
    expect(await leases.renew(3, 'n-b', 1, TTL)).toBe('lost');
    expect(await leases.renew(3, 'n-a', 1, TTL)).toBe('renewed');
    await leases.release(3, 'n-b', 1); // not b's: no effect
    expect(await leases.holder(3)).toEqual({ node: 'n-a', epoch: 1 });
    await leases.release(3, 'n-a', 1);
    expect(await leases.acquire(3, 'n-b', TTL)).toBe(2);
    await leases.raiseEpoch(3, 10);
    await leases.release(3, 'n-b', 2);
    expect(await leases.acquire(3, 'n-a', TTL)).toBe(11);
    const ttl = await redis.pttl(leaseKeys(prefix, 3)[0]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL);
  });

  it('a paused owner writes nothing after another node took its shard over, on a moving or a frozen clock', async () => {
    const { leases, fences } = await setup(2);
    const events: string[] = [];
    const a = owner('n-a', leases, fences, events);
    const b = owner('n-b', leases, fences, events);
    while (a.held().length < 2) await a.tick(); // a round may stop early when starts are slow
    const stale = a.lease(0) as Lease;
    expect(fences[0]?.write(stale, () => 'a wrote')).toBe('a wrote');
    // a pauses (no renewals); b keeps ticking and gets nothing until the lease time has passed
    const started = Date.now();
    while (!events.includes('n-b start 0@2') || !events.includes('n-b start 1@2')) {
      await b.tick();
      await sleep(50);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(TTL - 60);
    // a resumes: its next write is refused by its own clock, and by the epoch when its clock lies
    expect(() => fences[0]?.write(stale, () => 'a wrote again')).toThrow(AppError);
    expect(() => fences[0]?.write({ ...stale, expiresAt: Number.POSITIVE_INFINITY }, () => 'a wrote again')).toThrow(/superseded/);
    await a.tick();
    expect(events.filter((e) => e.startsWith('n-a stop')).sort()).toEqual(['n-a stop 0 expired', 'n-a stop 1 expired']);
    expect(fences[0]?.write(b.lease(0) as Lease, () => 'b wrote')).toBe('b wrote');
    // The shard's write log: a's one write, then b's claim and write; none of a's refused ones.
    const log = fences[0]?.history() ?? [];
    expect(log.map((e) => [e.epoch, e.node, e.count])).toEqual([[1, 'n-a', 1], [2, 'n-b', 1]]);
    expect(log[0]?.lastAt).toBeLessThanOrEqual(log[1]?.claimedAt as number);
    await a.close();
    await b.close();
  });

  it('moves a shard on request: the owner stops and releases, the target holds it with the next epoch', async () => {
    const { leases, fences } = await setup(1);
    const events: string[] = [];
    const a = owner('n-aaaaaaaaaaaaaaaa', leases, fences, events);
    const b = owner('n-bbbbbbbbbbbbbbbb', leases, fences, events);
    await a.tick();
    a.run();
    b.run();
    const moved = await moveShard({ leases, shard: 0, to: 'n-bbbbbbbbbbbbbbbb', timeoutMs: 5_000, pollMs: 20 });
    expect(moved.from).toEqual({ node: 'n-aaaaaaaaaaaaaaaa', epoch: 1 });
    expect(moved.to).toEqual({ node: 'n-bbbbbbbbbbbbbbbb', epoch: 2 });
    expect(events).toEqual(['n-aaaaaaaaaaaaaaaa start 0@1', 'n-aaaaaaaaaaaaaaaa stop 0 handover', 'n-bbbbbbbbbbbbbbbb start 0@2']);
    expect(fences[0]?.current()).toEqual({ epoch: 2, node: 'n-bbbbbbbbbbbbbbbb' });
    await a.close();
    await b.close();
  });
});
