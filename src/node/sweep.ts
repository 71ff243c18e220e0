// The retention sweep over every shard (issue 15): one scheduled job, run by whichever process
// takes it; each shard is swept by its owner, here for the shards this process owns and over the
// request bus for the others, so a shard's archive is only ever written by its owner. A shard with
// no owner at that moment is skipped (logged) and swept at the next run.
import type { Logger } from '../log/index.js';
import type { ShardedStores } from '../stores/index.js';
import { runRetention, type RequestBus, type RetentionDeps, type RetentionJobResult } from '../workers/index.js';

export interface SweepRequest {
  kind: 'sweep';
  now: number;
}

export function isSweepRequest(p: unknown): p is SweepRequest {
  const s = p as Partial<SweepRequest> | null;
  return typeof s === 'object' && s !== null && s.kind === 'sweep' && typeof s.now === 'number' && Number.isFinite(s.now);
}

export type SweepDeps = Omit<RetentionDeps, 'archive' | 'directory' | 'progress'> & Partial<Pick<RetentionDeps, 'archive' | 'directory'>>;

/** Sweeps one shard owned here (the owner's answer to a SweepRequest). */
export function sweepShard(sharded: ShardedStores, shard: number, deps: SweepDeps): Promise<RetentionJobResult> {
  const s = sharded.get(shard);
  if (s === undefined) return Promise.reject(new Error(`shard ${shard} is not owned here`));
  return runRetention({ ...deps, archive: s.archive, directory: s.directory });
}

const add = (a: RetentionJobResult, b: RetentionJobResult): RetentionJobResult => {
  const out = { ...a };
  for (const k of Object.keys(b) as (keyof RetentionJobResult)[]) if (k !== 'now') out[k] += b[k];
  return out;
};

/** The sweep job's body: every shard, by its owner; the counts summed. */
export function sweepAll(o: { sharded: ShardedStores; bus?: RequestBus | undefined; logger: Logger; timeoutMs?: number }) {
  return async (deps: SweepDeps, progress?: (r: RetentionJobResult) => Promise<void>): Promise<RetentionJobResult> => {
    const now = deps.now();
    let total: RetentionJobResult = { users: 0, purged: 0, expired: 0, tombstones: 0, notices: 0, noticeFailures: 0, prekeysErased: 0, checkpointed: 0, vacuumed: 0, now };
    const skipped: number[] = [];
    for (let k = 0; k < o.sharded.count; k++) {
      if (deps.stopping?.() === true) break;
      try {
        const r = o.sharded.get(k) !== undefined
          ? await sweepShard(o.sharded, k, { ...deps, now: () => now })
          : o.bus === undefined
            ? undefined
            : ((await o.bus.request(k, { kind: 'sweep', now } satisfies SweepRequest, o.timeoutMs ?? 600_000)) as RetentionJobResult);
        if (r === undefined) skipped.push(k);
        else total = add(total, r);
      } catch (err) {
        skipped.push(k);
        o.logger.warn({ shard: k, error: (err as Error).message }, 'shard not swept; the next run sweeps it');
      }
      await progress?.({ ...total });
    }
    if (skipped.length > 0) o.logger.warn({ skipped: skipped.length }, 'retention sweep skipped shards with no owner');
    return total;
  };
}
