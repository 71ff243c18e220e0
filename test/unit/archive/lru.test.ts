// Bounded open handles (design.md "Storage"): 500 users with a limit of 64 never hold more than 64
// archive files open (counted in /proc/self/fd); evicted archives reopen with their data; a handle
// in use is never closed under its caller.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log/index.js';
import { HandlePool } from '../../../src/archive/pool.js';
import type { UserDb } from '../../../src/archive/user-db.js';
import { fixture, incoming, openFds } from './helpers.js';

const USER_DB = /\/users\/[0-9a-f]{64}\.db$/;
const USER_WAL = /\/users\/[0-9a-f]{64}\.db-wal$/;

describe('handle LRU', () => {
  it('keeps at most 64 user archive files open across 500 users', async () => {
    const f = fixture();
    try {
      const store = await f.open({ maxOpen: 64 });
      let peakDb = 0;
      let peakWal = 0;
      for (let i = 0; i < 500; i++) {
        store.storeIncoming(`user${i}@example.org`, incoming('alice@example.org', `m${i}`, [1], { payloadBytes: 64 }));
        peakDb = Math.max(peakDb, openFds(USER_DB));
        peakWal = Math.max(peakWal, openFds(USER_WAL));
        expect(store.openCount).toBeLessThanOrEqual(64);
      }
      expect(peakDb).toBe(64);
      expect(peakWal).toBeLessThanOrEqual(64);
      expect(store.listUsers({ limit: 1000 })).toHaveLength(500);
      // The first users were evicted long ago; their data reopens intact, still within the bound.
      for (let i = 0; i < 10; i++) {
        const pending = store.pendingFor(`user${i}@example.org`, 1, { limit: 10 });
        expect(pending.map((p) => p.messageId)).toEqual([`m${i}`]);
      }
      expect(openFds(USER_DB)).toBeLessThanOrEqual(64);
      store.close();
      expect(openFds(USER_DB)).toBe(0);
    } finally {
      f.cleanup();
    }
  });

  it('never closes a handle that a running call is using, even over the limit', () => {
    const closed: string[] = [];
    const fake = (name: string) => ({ close: () => closed.push(name), inTransaction: false }) as unknown as UserDb;
    const pool = new HandlePool(1, silentLogger());
    pool.use('a', () => fake('a'), () => {
      pool.use('b', () => fake('b'), () => undefined);
      expect(closed).toEqual([]);
      expect(pool.size).toBe(2);
    });
    pool.use('c', () => fake('c'), () => undefined);
    expect(closed).toEqual(['a', 'b']);
    expect(pool.size).toBe(1);
  });

  it('evicts the least recently used handle, not the oldest opened', () => {
    const closed: string[] = [];
    const fake = (name: string) => ({ close: () => closed.push(name), inTransaction: false }) as unknown as UserDb;
    const pool = new HandlePool(2, silentLogger());
    pool.use('a', () => fake('a'), () => undefined);
    pool.use('b', () => fake('b'), () => undefined);
    pool.use('a', () => fake('a2'), () => undefined);
    pool.use('c', () => fake('c'), () => undefined);
    expect(closed).toEqual(['b']);
    expect(pool.has('a')).toBe(true);
  });
});
