// Batches in the store queue (issue 9): the good items of one submission stanza for one recipient
// travel as one job, are committed in one archive transaction per archive (one fsync) and
// acknowledged in one receipt stanza, each item still named on its own. A batch job is a
// StoreJobData (its first item) with the following items in `more`, in stanza order, so it goes
// through the same shard queue and keeps per-(sender, recipient) order (invariant 3).
import { storeJobId, type StoreItem, type StoreJobData } from './contract.js';

/** The items of a job, each as an item of its own (the batch's sender, recipient and reply address). */
export function jobItems(job: StoreJobData): StoreItem[] {
  const { more, ...first } = job;
  if (more === undefined || more.length === 0) return [first];
  return [first, ...more.map((m) => ({ ...first, messageId: m.messageId, envelope: m.envelope }))];
}

/**
 * One job for `items` (same sender and recipient, in order). Its id hashes every (sender, message
 * id) of the batch, so the same batch sent again maps to the same job while it exists; the
 * archive's unique key makes any other overlap a no-op.
 */
export function batchJob(items: readonly StoreItem[]): { jobId: string; data: StoreJobData } {
  const [first, ...rest] = items;
  if (first === undefined) throw new RangeError('batchJob: no items');
  if (rest.length === 0) return { jobId: storeJobId(first.sender, first.messageId), data: first };
  for (const r of rest)
    if (r.sender !== first.sender || r.recipient !== first.recipient) throw new RangeError('batchJob: one sender and recipient per batch');
  return {
    jobId: storeJobId(first.sender, `batch\u0000${items.map((i) => i.messageId).join('\u0000')}`),
    data: { ...first, more: rest.map((r) => ({ messageId: r.messageId, envelope: r.envelope })) },
  };
}
