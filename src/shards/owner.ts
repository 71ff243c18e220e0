// The owner loop of a worker node (issue 15, design.md "Owners"): every tick it renews the leases
// it holds, stops a shard whose lease is gone (or past due on its own clock, e.g. after a pause),
// hands a shard over when an operator asked, and takes every reachable shard nobody holds (a
// dead node's, once its lease expired). Starting a shard claims its fence before any write.
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { Lease } from './fence.js';
import type { LeaseStore } from './lease.js';

export type StartResult = { started: true } | { started: false; fenceEpoch: number };

export type StopReason = 'lost' | 'expired' | 'handover' | 'closing';

export interface OwnerLoopOptions {
  node: string;
  leases: LeaseStore;
  /** Lease time; renewals every ttl / 3 (the run interval). */
  ttlMs: number;
  /** Shards this node may own now (their directory is reachable from here). */
  candidates: () => readonly number[];
  /**
   * Claims the shard's fence, opens the shard and starts its workers. `stale` (nothing started)
   * when the fence already saw `fenceEpoch` (the lease store forgot): the store is raised past it
   * and the lease given back. AppError(Unavailable) (the shard is locked) keeps the lease and
   * start is tried again next tick; any other throw gives the lease back.
   */
  start(lease: Lease): Promise<StartResult>;
  /** Stops the shard's workers and closes its stores. */
  stop(shard: number, reason: StopReason): Promise<void>;
  logger: Logger;
  now?: () => number;
}

export interface OwnerLoop {
  /** One round: renew, stop, hand over, acquire. */
  tick(): Promise<void>;
  /** Ticks every ttl / 3 until close(). */
  run(): void;
  /** The leases held now (live objects: their `expiresAt` moves on with each renewal). */
  held(): readonly Lease[];
  lease(shard: number): Lease | undefined;
  /** Stops every shard and releases its lease. */
  close(): Promise<void>;
}

export function createOwnerLoop(options: OwnerLoopOptions): OwnerLoop {
  const { node, leases, ttlMs } = options;
  const now = options.now ?? Date.now;
  const log = options.logger.child({ module: 'owner', node });
  const held = new Map<number, Lease>();
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let closed = false;
  // Local validity ends a little before Redis's TTL: the request left after `t0`.
  const validFor = Math.floor(ttlMs * 0.9);

  const drop = async (lease: Lease, reason: StopReason): Promise<void> => {
    held.delete(lease.shard);
    locked.delete(lease.shard);
    log.warn({ shard: lease.shard, epoch: lease.epoch, reason }, 'shard stopped');
    const t0 = now();
    await options.stop(lease.shard, reason).catch((err: unknown) => log.error({ shard: lease.shard, error: (err as Error).message }, 'shard stop failed'));
    if (now() - t0 > ttlMs) log.warn({ shard: lease.shard, ms: now() - t0 }, 'shard stop slow');
    if (reason === 'handover' || reason === 'closing') await leases.release(lease.shard, node, lease.epoch).catch(() => undefined);
  };

  const renewAll = async (): Promise<void> => {
    // Past due on our own clock (the process was paused): every such shard is given up at once,
    // not one after another behind each shard's stop (its workers keep taking jobs meanwhile).
    const t = now();
    await Promise.all([...held.values()].filter((l) => t >= l.expiresAt).map((l) => drop(l, 'expired')));
    for (const lease of [...held.values()]) {
      const t0 = now();
      if (t0 >= lease.expiresAt) {
        await drop(lease, 'expired');
        continue;
      }
      const r = await leases.renew(lease.shard, node, lease.epoch, ttlMs).catch((err: unknown) => {
        log.warn({ shard: lease.shard, error: (err as Error).message }, 'lease renewal failed');
        return 'error' as const;
      });
      if (r === 'renewed') lease.expiresAt = t0 + validFor;
      else if (r === 'lost') await drop(lease, 'lost');
      else if (r === 'handover') await drop(lease, 'handover');
      // 'error': keep it until it expires on our clock; the fence refuses writes after that.
    }
  };

  // Held but not started: the shard was locked (a node stopped inside a write holds its SQLite
  // lock until it wakes or dies). The lease is kept, so the shard does not flap back to that node.
  const locked = new Set<number>();

  const tryStart = async (lease: Lease): Promise<void> => {
    const { shard, epoch } = lease;
    try {
      const r = await options.start(lease);
      locked.delete(shard);
      if (r.started) log.info({ shard, epoch }, 'shard owned');
      else {
        held.delete(shard);
        log.warn({ shard, epoch, fenceEpoch: r.fenceEpoch }, 'lease store behind the shard fence; epoch raised');
        await leases.raiseEpoch(shard, r.fenceEpoch);
        await leases.release(shard, node, epoch);
      }
    } catch (err) {
      await options.stop(shard, 'lost').catch(() => undefined);
      if (AppError.is(err, ErrorCode.Unavailable)) {
        if (!locked.has(shard)) log.warn({ shard, epoch, error: (err as Error).message }, 'shard locked; start retried while the lease is kept');
        locked.add(shard);
        return;
      }
      held.delete(shard);
      locked.delete(shard);
      log.error({ shard, epoch, error: (err as Error).message }, 'shard not started; lease given back');
      await leases.release(shard, node, epoch).catch(() => undefined);
    }
  };

  // Starting a shard takes time (its stores open, its workers start): past a renewal interval in
  // one round, the rest waits for the next round, after the leases already held are renewed. Seen
  // on a loaded 2-core machine: five starts in one round outlasted the first leases (local expiry).
  const acquireFree = async (): Promise<void> => {
    const budget = now() + Math.floor(ttlMs / 3);
    for (const shard of [...locked]) {
      const lease = held.get(shard);
      if (lease === undefined) locked.delete(shard);
      else if (!closed) await tryStart(lease);
    }
    for (const shard of options.candidates()) {
      if (now() >= budget) return;
      if (closed || held.has(shard)) continue;
      const t0 = now();
      const epoch = await leases.acquire(shard, node, ttlMs).catch(() => undefined);
      if (epoch === undefined) continue;
      const lease: Lease = { shard, node, epoch, expiresAt: t0 + validFor };
      held.set(shard, lease);
      await tryStart(lease);
    }
  };

  const tick = (): Promise<void> =>
    (ticking ??= (async () => {
      try {
        await renewAll();
        if (!closed) await acquireFree();
      } finally {
        ticking = undefined;
      }
    })());

  return {
    tick,
    run() {
      if (timer !== undefined || closed) return;
      timer = setInterval(() => void tick().catch((err: unknown) => log.error({ error: (err as Error).message }, 'owner tick failed')), Math.max(50, Math.floor(ttlMs / 3)));
      timer.unref();
    },
    held: () => [...held.values()],
    lease: (shard) => held.get(shard),
    async close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      await ticking;
      for (const lease of [...held.values()]) await drop(lease, 'closing');
    },
  };
}
