// Moving a shard on purpose (issue 15, the operator's `sealpost shard move`): reserve the shard's
// next lease for the target node and ask its owner to let go; the owner stops the shard's workers
// and releases (pause), the target takes it with epoch + 1 and claims the fence (hand over), then
// starts its workers (resume). The target must reach the shard's directory (copied or re-attached).
import { AppError, ErrorCode } from '../errors/index.js';
import type { LeaseHolder, LeaseStore } from './lease.js';

export interface MoveShardOptions {
  leases: LeaseStore;
  shard: number;
  /** Node id of the target (SEALPOST_NODE_ID, default its data root's id). */
  to: string;
  /** How long to wait for the target to hold it (default 60 s). */
  timeoutMs?: number;
  pollMs?: number;
}

export async function moveShard(options: MoveShardOptions): Promise<{ from: LeaseHolder | undefined; to: LeaseHolder }> {
  const { leases, shard, to } = options;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(to)) throw new AppError(ErrorCode.BadInput, `node id ${JSON.stringify(to)}: expected letters, digits, _ . - (at most 64)`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const from = await leases.holder(shard);
  if (from?.node === to) return { from, to: from };
  await leases.requestHandover(shard, to, timeoutMs + 60_000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await leases.holder(shard);
    if (h !== undefined && h.node === to) return { from, to: h };
    if (Date.now() >= deadline)
      throw new AppError(
        ErrorCode.Timeout,
        `shard ${shard}: node ${to} has not taken it within ${Math.round(timeoutMs / 1000)} s (now ${h === undefined ? 'free' : `held by ${h.node}`}); is the shard's directory reachable there and the node running?`,
      );
    await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
  }
}
