// Opening a shard whose databases another process holds write-locked (issue 15: a node stopped
// inside a write, its shard taken over): better-sqlite3 waits for a lock synchronously, so the
// open used to freeze the new owner's event loop for the busy timeout of each file (5 s each), with
// its other leases' renewals behind it. Now the open waits between tries without blocking, gives
// up with AppError(Unavailable) at its bound (the owner loop tries again next round), and opens
// once the lock is gone.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { initSodium } from '../../../src/keys/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { openShardStores, type Lease } from '../../../src/shards/index.js';

const MASTER = new Uint8Array(32).fill(5);

function holdLocks(dir: string, files: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/unit/shards/lock-holder.ts'], { env: { ...process.env, DIR: dir, FILES: files }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('LOCKED')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
}

/** The longest gap between 10 ms ticks while `fn` runs: how long the event loop was blocked. */
async function longestStall<T>(fn: () => Promise<T>): Promise<{ stall: number; result: T | Error }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    stall = Math.max(stall, t - last);
    last = t;
  }, 10);
  try {
    const result = await fn().catch((err: unknown) => err as Error);
    stall = Math.max(stall, performance.now() - last);
    return { stall, result };
  } finally {
    clearInterval(timer);
  }
}

describe('opening a shard another process holds locked', () => {
  beforeAll(() => initSodium());
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const lease = (epoch: number, node: string, ttlMs = 60_000): Lease => ({ shard: 0, node, epoch, expiresAt: Date.now() + ttlMs });
  const open = (dir: string, l: Lease, lockWaitMs?: number) =>
    openShardStores({ shard: 0, dir, masterKey: MASTER, cipher: 'chacha20', lease: l, logger: silentLogger(), ...(lockWaitMs === undefined ? {} : { lockWaitMs }) });

  it.each([['directory.db'], ['fence.db,directory.db']])('keeps the event loop running, gives up with Unavailable, opens once the lock is gone (%s locked)', async (files) => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-lock-'));
    dirs.push(dir);
    // The shard exists (its old owner created it), then that owner stops inside a write.
    const first = await open(dir, lease(1, 'n-a'));
    if (!first.started) throw new Error('not started');
    first.stores.close();
    const holder = await holdLocks(dir, files);
    children.push(holder);

    const t0 = performance.now();
    const { stall, result } = await longestStall(() => open(dir, lease(2, 'n-b'), 1_500));
    const took = performance.now() - t0;
    // The loop ran meanwhile (blocked, it stalled for the 5 s busy timeout), and it waited its bound.
    expect(stall).toBeLessThan(1_000);
    expect(result).toBeInstanceOf(AppError);
    expect(AppError.is(result, ErrorCode.Unavailable)).toBe(true);
    expect((result as Error).message).toMatch(/write-locked by another process/);
    expect(took).toBeGreaterThanOrEqual(1_400);

    // A bound of a third of the lease's remaining time: a short lease gives up sooner.
    const short = await longestStall(() => open(dir, lease(2, 'n-b', 600)));
    expect(AppError.is(short.result, ErrorCode.Unavailable)).toBe(true);

    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const opened = await open(dir, lease(2, 'n-b'), 1_500);
    expect(opened.started).toBe(true);
    if (opened.started) {
      expect(opened.stores.fence.current()).toEqual({ epoch: 2, node: 'n-b' });
      opened.stores.close();
    }
  });

  it('does not block when the lock is taken between the lock check and the open: waits, then opens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-lock-'));
    dirs.push(dir);
    const first = await open(dir, lease(1, 'n-a'));
    if (!first.started) throw new Error('not started');
    first.stores.close();
    // Another process takes directory.db's write lock right after the check looked, and lets it go
    // 1.5 s later (a timer of this process: it fires only if the event loop runs meanwhile).
    let released = false;
    const afterLockCheck = async (): Promise<void> => {
      const holder = await holdLocks(dir, 'directory.db');
      children.push(holder);
      setTimeout(() => {
        released = true;
        holder.kill('SIGKILL');
      }, 1_500);
    };
    const { stall, result } = await longestStall(() =>
      openShardStores({ shard: 0, dir, masterKey: MASTER, cipher: 'chacha20', lease: lease(2, 'n-b'), logger: silentLogger(), lockWaitMs: 10_000, afterLockCheck }),
    );
    expect(stall).toBeLessThan(1_000);
    expect(released).toBe(true);
    expect(result).not.toBeInstanceOf(Error);
    if (!(result instanceof Error) && result.started) {
      expect(result.stores.fence.current()).toEqual({ epoch: 2, node: 'n-b' });
      result.stores.close();
    }
  }, 30_000);
});
