import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { createOwnerLoop, openShardFence, type Lease, type ShardFence } from '../../../src/shards/index.js';
import { fakeLeaseStore } from './fake-leases.js';

const KEY = new Uint8Array(32).fill(7);
const TTL = 3_000;

/** A node: an owner loop whose start() claims the shard's fence, as the service's does. */
function node(name: string, leases: ReturnType<typeof fakeLeaseStore>, clock: { t: number }, fences: Map<number, ShardFence>, reachable: number[]) {
  const events: string[] = [];
  const loop = createOwnerLoop({
    node: name,
    leases,
    ttlMs: TTL,
    candidates: () => reachable,
    now: () => clock.t,
    logger: silentLogger(),
    start: (lease) => {
      const fence = fences.get(lease.shard) as ShardFence;
      if (!fence.claim(lease)) return Promise.resolve({ started: false as const, fenceEpoch: fence.current().epoch });
      events.push(`start ${lease.shard}@${lease.epoch}`);
      return Promise.resolve({ started: true as const });
    },
    stop: (shard, reason) => {
      events.push(`stop ${shard} ${reason}`);
      return Promise.resolve();
    },
  });
  return { loop, events };
}

describe('owner loop (fake clock, in-memory leases, real fence files)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function fences(clock: { t: number }, n: number): Map<number, ShardFence> {
    const root = mkdtempSync(join(tmpdir(), 'sealpost-fence-'));
    dirs.push(root);
    const m = new Map<number, ShardFence>();
    for (let k = 0; k < n; k++) {
      mkdirSync(join(root, String(k)));
      m.set(k, openShardFence({ shard: k, dir: join(root, String(k)), key: KEY, cipher: 'chacha20', now: () => clock.t }));
    }
    return m;
  }

  it('stops taking shards in a round once starting them took a renewal interval, and renews the held ones first next round', async () => {
    const clock = { t: 1_000 };
    const leases = fakeLeaseStore(() => clock.t);
    const f = fences(clock, 4);
    const events: string[] = [];
    const loop = createOwnerLoop({
      node: 'n-slow',
      leases,
      ttlMs: TTL,
      candidates: () => [0, 1, 2, 3],
      now: () => clock.t,
      logger: silentLogger(),
      start: (lease) => {
        (f.get(lease.shard) as ShardFence).claim(lease);
        clock.t += 700; // each start takes 0.7 s
        events.push(`start ${lease.shard}`);
        return Promise.resolve({ started: true as const });
      },
      stop: (shard, reason) => {
        events.push(`stop ${shard} ${reason}`);
        return Promise.resolve();
      },
    });
    await loop.tick();
    // A third of the lease (1 s) is spent after two starts: the other two wait.
    expect(events).toEqual(['start 0', 'start 1']);
    await loop.tick();
    await loop.tick();
    expect(events).toEqual(['start 0', 'start 1', 'start 2', 'start 3']);
    // Every lease was renewed before it ran out on the node's clock: none stopped.
    expect(loop.held().map((l) => l.shard).sort()).toEqual([0, 1, 2, 3]);
    await loop.close();
  });

  it('takes free shards, keeps them by renewing, and a second node gets none of them', async () => {
    const clock = { t: 1_000 };
    const leases = fakeLeaseStore(() => clock.t);
    const f = fences(clock, 2);
    const a = node('n-a', leases, clock, f, [0, 1]);
    const b = node('n-b', leases, clock, f, [0, 1]);
    await a.loop.tick();
    await b.loop.tick();
    expect(a.events).toEqual(['start 0@1', 'start 1@1']);
    for (let i = 0; i < 10; i++) {
      clock.t += TTL / 3;
      await a.loop.tick();
      await b.loop.tick();
    }
    expect(b.events).toEqual([]);
    expect(f.get(0)?.write(a.loop.lease(0) as Lease, () => 'ok')).toBe('ok');
  });

  it('a paused owner loses its shard to the next node after the lease time and cannot write after it resumes', async () => {
    const clock = { t: 1_000 };
    const leases = fakeLeaseStore(() => clock.t);
    const f = fences(clock, 1);
    const a = node('n-a', leases, clock, f, [0]);
    const b = node('n-b', leases, clock, f, [0]);
    await a.loop.tick();
    const stale = a.loop.lease(0) as Lease;
    clock.t += TTL - 1; // a is paused: no renewals
    await b.loop.tick();
    expect(b.events).toEqual([]); // not before the lease time
    clock.t += 2;
    await b.loop.tick();
    expect(b.events).toEqual(['start 0@2']);
    // a resumes: its first write, before its own tick noticed anything, is refused
    expect(() => f.get(0)?.write(stale, () => 'written')).toThrow(AppError);
    // even on a clock that did not move during the pause, the epoch refuses it
    const frozen = { ...stale, expiresAt: Number.POSITIVE_INFINITY };
    expect(() => f.get(0)?.write(frozen, () => 'written')).toThrow(/epoch 1 superseded by 2/);
    await a.loop.tick();
    expect(a.events).toEqual(['start 0@1', 'stop 0 expired']);
    expect(f.get(0)?.write(b.loop.lease(0) as Lease, () => 'b')).toBe('b');
  });

  it('a renewal refused by the store stops the shard at once', async () => {
    const clock = { t: 0 };
    const leases = fakeLeaseStore(() => clock.t);
    const f = fences(clock, 1);
    const a = node('n-a', leases, clock, f, [0]);
    await a.loop.tick();
    leases.forget(); // Redis lost its data: the lease and the epoch counter
    const b = node('n-b', leases, clock, f, [0]);
    await b.loop.tick(); // b gets epoch 1 again from the store; the fence already has 1 for n-a: refused
    expect(b.events).toEqual([]);
    expect(() => f.get(0)?.write({ shard: 0, node: 'n-b', epoch: 1, expiresAt: clock.t + TTL }, () => 'b')).toThrow(AppError);
    await a.loop.tick(); // a's renewal is refused: it stops, then takes the free shard at epoch 2
    expect(a.events).toEqual(['start 0@1', 'stop 0 lost', 'start 0@2']);
    expect(f.get(0)?.current()).toEqual({ epoch: 2, node: 'n-a' });
  });

  it('hands a shard over on request: the owner stops and releases, the target starts it with the next epoch', async () => {
    const clock = { t: 0 };
    const leases = fakeLeaseStore(() => clock.t);
    const f = fences(clock, 1);
    const a = node('n-a', leases, clock, f, [0]);
    const b = node('n-b', leases, clock, f, [0]);
    const c = node('n-c', leases, clock, f, [0]);
    await a.loop.tick();
    await leases.requestHandover(0, 'n-b', 60_000);
    await a.loop.tick();
    await c.loop.tick(); // reserved for n-b
    await b.loop.tick();
    expect(a.events).toEqual(['start 0@1', 'stop 0 handover']);
    expect(c.events).toEqual([]);
    expect(b.events).toEqual(['start 0@2']);
    expect(await leases.handoverTarget(0)).toBeUndefined();
  });

  it('keeps the lease of a locked shard and starts it once the lock is gone; other failures give it back', async () => {
    const clock = { t: 0 };
    const leases = fakeLeaseStore(() => clock.t);
    let locked = 2;
    const events: string[] = [];
    const loop = createOwnerLoop({
      node: 'n-a',
      leases,
      ttlMs: TTL,
      candidates: () => [0, 1],
      now: () => clock.t,
      logger: silentLogger(),
      start: (lease) => {
        if (lease.shard === 1) return Promise.reject(new Error('disk on fire'));
        if (locked-- > 0) return Promise.reject(new AppError(ErrorCode.Unavailable, 'fence claim: storage unavailable (SQLITE_BUSY)'));
        events.push(`start ${lease.shard}@${lease.epoch}`);
        return Promise.resolve({ started: true as const });
      },
      stop: () => Promise.resolve(),
    });
    await loop.tick();
    expect(await leases.holder(0)).toEqual({ node: 'n-a', epoch: 1 });
    expect(await leases.holder(1)).toBeUndefined();
    clock.t += TTL / 3;
    await loop.tick();
    expect(events).toEqual([]);
    clock.t += TTL / 3;
    await loop.tick();
    expect(events).toEqual(['start 0@1']);
  });

  it('close() stops every shard and releases it for the next node at once', async () => {
    const clock = { t: 0 };
    const leases = fakeLeaseStore(() => clock.t);
    const f = fences(clock, 2);
    const a = node('n-a', leases, clock, f, [0, 1]);
    await a.loop.tick();
    await a.loop.close();
    expect(a.events.slice(2).sort()).toEqual(['stop 0 closing', 'stop 1 closing']);
    expect(await leases.holder(0)).toBeUndefined();
  });
});
