// Pending-per-user metrics (issue 6, Metrics) without a sweep over every archive on each scrape:
// users whose pending set may have changed (a store, a receipt) are marked, and each sample reads
// only their counters. Per-user series name users by a short prefix of the archive's keyed hash
// (no JIDs in metrics) and only for the top K, so cardinality stays bounded.
import type { ArchiveStore } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';

export interface PendingSampler {
  /** The user's pending copies may have changed. */
  touch(jid: string): void;
  /** Reads the marked users and updates the gauges; returns the total pending messages. */
  sample(): number;
  /** Marks every known user once (a start-up seed), in pages between samples. */
  seed(): void;
  stop(): void;
}

export interface PendingSamplerOptions {
  archive: Pick<ArchiveStore, 'pendingCounts' | 'userHash' | 'listUsers'>;
  metrics: Metrics;
  logger: Logger;
  /** Per-user series kept (largest pending first); default 20. */
  topK?: number;
  /** Sampling period; 0 = only on demand. Default 15 s. */
  intervalMs?: number;
}

export function createPendingSampler(o: PendingSamplerOptions): PendingSampler {
  const counts = new Map<string, number>(); // user hash prefix → pending messages
  const dirty = new Set<string>();
  const topK = o.topK ?? 20;
  let seedAfter: string | undefined;
  let shown = new Set<string>();

  const sample = (): number => {
    if (seedAfter !== undefined) {
      const page = o.archive.listUsers({ after: seedAfter, limit: 500 });
      for (const u of page) dirty.add(u.jid);
      seedAfter = page.length < 500 ? undefined : page.at(-1)?.userHash;
    }
    for (const jid of dirty) {
      try {
        const id = o.archive.userHash(jid).slice(0, 16);
        const n = o.archive.pendingCounts(jid).messages;
        if (n > 0) counts.set(id, n);
        else counts.delete(id);
      } catch (err) {
        o.logger.debug({ error: (err as Error).message }, 'pending sample skipped a user');
      }
    }
    dirty.clear();
    let total = 0;
    for (const n of counts.values()) total += n;
    o.metrics.pending.set(total);
    o.metrics.pendingUsers.set(counts.size);
    const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, topK);
    const next = new Set(top.map(([id]) => id));
    for (const id of shown) if (!next.has(id)) o.metrics.pendingPerUser.remove({ user: id });
    for (const [id, n] of top) o.metrics.pendingPerUser.set({ user: id }, n);
    shown = next;
    return total;
  };

  const timer = (o.intervalMs ?? 15_000) > 0 ? setInterval(() => {
    try {
      sample();
    } catch (err) {
      o.logger.warn({ error: (err as Error).message }, 'pending sample failed');
    }
  }, o.intervalMs ?? 15_000).unref() : undefined;
  return {
    touch: (jid) => void dirty.add(jid),
    sample,
    seed: () => void (seedAfter = ''),
    stop: () => clearInterval(timer),
  };
}
