// An in-memory LeaseStore on an injected clock, with the Redis store's semantics (TTL, per-shard
// epoch counter, handover reservation), so the owner loop is tested without a network or waiting.
import type { LeaseHolder, LeaseStore } from '../../../src/shards/index.js';

export interface FakeLeases extends LeaseStore {
  /** Drops every lease and counter: a Redis that lost its data. */
  forget(): void;
}

export function fakeLeaseStore(now: () => number): FakeLeases {
  const leases = new Map<number, { node: string; epoch: number; until: number }>();
  const epochs = new Map<number, number>();
  const handovers = new Map<number, { node: string; until: number }>();
  const live = (shard: number) => {
    const l = leases.get(shard);
    if (l !== undefined && l.until <= now()) leases.delete(shard);
    const h = handovers.get(shard);
    if (h !== undefined && h.until <= now()) handovers.delete(shard);
    return { l: leases.get(shard), h: handovers.get(shard) };
  };
  return {
    acquire(shard, node, ttlMs) {
      const { l, h } = live(shard);
      if (l !== undefined || (h !== undefined && h.node !== node)) return Promise.resolve(undefined);
      const epoch = (epochs.get(shard) ?? 0) + 1;
      epochs.set(shard, epoch);
      leases.set(shard, { node, epoch, until: now() + ttlMs });
      if (h !== undefined) handovers.delete(shard);
      return Promise.resolve(epoch);
    },
    renew(shard, node, epoch, ttlMs) {
      const { l, h } = live(shard);
      if (l === undefined || l.node !== node || l.epoch !== epoch) return Promise.resolve('lost');
      l.until = now() + ttlMs;
      return Promise.resolve(h !== undefined && h.node !== node ? 'handover' : 'renewed');
    },
    release(shard, node, epoch) {
      const { l } = live(shard);
      if (l !== undefined && l.node === node && l.epoch === epoch) leases.delete(shard);
      return Promise.resolve();
    },
    holder(shard) {
      const { l } = live(shard);
      return Promise.resolve(l === undefined ? undefined : ({ node: l.node, epoch: l.epoch } satisfies LeaseHolder));
    },
    raiseEpoch(shard, epoch) {
      if ((epochs.get(shard) ?? 0) < epoch) epochs.set(shard, epoch);
      return Promise.resolve();
    },
    requestHandover(shard, node, ttlMs) {
      handovers.set(shard, { node, until: now() + ttlMs });
      return Promise.resolve();
    },
    handoverTarget(shard) {
      return Promise.resolve(live(shard).h?.node);
    },
    forget() {
      leases.clear();
      epochs.clear();
      handovers.clear();
    },
  };
}
