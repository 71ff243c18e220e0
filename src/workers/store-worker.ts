// The store worker (design.md invariants 2 and 4): commits a checked submission to the recipient's
// encrypted archive (payload once, one key block per device, the AK copy) and the sender's own-AK
// copy to the sender's archive; only after that commit is the sender's receipt sent. Storing is
// idempotent on (sender, message id), so a job run twice leaves one row and sends the receipt again.
import { AppError, ErrorCode } from '../errors/index.js';
import { fromBase64, type EnvelopeWire } from '../keys/index.js';
import type { ArchiveStore } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { StoreJobData, StoreJobResult } from './contract.js';
import { jobItems, type StoreBatchJobData } from './store-batch.js';

/** How the store worker talks back to the sender (XMPP in the service). */
export interface SenderNotifier {
  receipt(job: StoreJobData): Promise<void>;
  refused(job: StoreJobData, err: AppError): Promise<void>;
  /** One receipt stanza for several committed items of a batch job; else one receipt each. */
  receipts?(job: StoreJobData, messageIds: readonly string[]): Promise<void>;
}

/** Called after commit so online devices get the new message at once. */
export interface StoredListener {
  stored(recipient: string, devices: readonly number[]): Promise<void>;
}

export interface StoreQuota {
  pendingMaxCount: number;
  pendingMaxBytes: number;
}

export interface StoreWorkerDeps {
  archive: Pick<ArchiveStore, 'storeIncoming' | 'storeOutgoing' | 'pendingCounts' | 'deliveryState'> &
    Partial<Pick<ArchiveStore, 'storeIncomingMany' | 'storeOutgoingMany'>>;
  notifier: SenderNotifier;
  listener?: StoredListener;
  quota: StoreQuota;
  logger: Logger;
  metrics?: Metrics;
}

const bytes = (label: string, b64: string): Uint8Array => fromBase64(label, b64, 1, 1 << 30);

function split(env: EnvelopeWire) {
  const payload = bytes('payload', env.payload);
  const deviceBlocks = env.blocks
    .filter((b) => b.device !== undefined)
    .map((b) => ({ deviceId: b.device ?? 0, prekeyId: b.prekey, block: bytes('key block', b.box) }));
  const akFor = (owner: 'recipient' | 'sender') => {
    const b = env.blocks.find((x) => x.ak === owner);
    return b === undefined ? undefined : { akId: b.prekey, block: bytes('archive block', b.box) };
  };
  return { payload, deviceBlocks, recipientAk: akFor('recipient'), senderAk: akFor('sender') };
}

/** Refuses a new message that would take the recipient over its pending quota. */
function checkQuota(deps: StoreWorkerDeps, job: StoreJobData, incomingBytes: number): void {
  if (deps.archive.deliveryState(job.recipient, job.sender, job.messageId) !== undefined) return; // a repeat
  const counts = deps.archive.pendingCounts(job.recipient);
  if (counts.messages + 1 > deps.quota.pendingMaxCount || counts.bytes + incomingBytes > deps.quota.pendingMaxBytes)
    throw new AppError(ErrorCode.ResourceLimit, `${job.recipient} has too many undelivered messages; retry later`);
}

/** The processor body, free of BullMQ so tests can drive it directly. */
export async function processStore(job: StoreBatchJobData, deps: StoreWorkerDeps): Promise<StoreJobResult> {
  if (job.more !== undefined && job.more.length > 0) return processStoreBatch(jobItems(job), deps);
  const started = Date.now();
  const parts = split(job.envelope);
  try {
    checkQuota(deps, job, parts.payload.length);
  } catch (err) {
    if (AppError.is(err)) await deps.notifier.refused(job, err);
    throw err;
  }
  const result = deps.archive.storeIncoming(job.recipient, {
    sender: job.sender,
    senderDevice: job.envelope.device,
    messageId: job.messageId,
    suite: job.envelope.suite,
    payload: parts.payload,
    deviceBlocks: parts.deviceBlocks,
    archiveBlock: parts.recipientAk,
    receivedAt: job.receivedAt,
  });
  if (parts.senderAk !== undefined)
    deps.archive.storeOutgoing(job.sender, {
      recipient: job.recipient,
      senderDevice: job.envelope.device,
      messageId: job.messageId,
      suite: job.envelope.suite,
      payload: parts.payload,
      archiveBlock: parts.senderAk,
      receivedAt: job.receivedAt,
    });
  deps.metrics?.stores.inc({ result: result.inserted ? 'stored' : 'duplicate' });
  deps.metrics?.storeLatency.observe((Date.now() - job.receivedAt) / 1000);
  deps.logger.debug({ recipient: job.recipient, inserted: result.inserted, ms: Date.now() - started }, 'stored');
  // Committed (synchronous=FULL): now, and only now, the receipt.
  await deps.notifier.receipt(job);
  if (deps.listener !== undefined && parts.deviceBlocks.length > 0)
    await deps.listener.stored(job.recipient, parts.deviceBlocks.map((b) => b.deviceId));
  return { inserted: result.inserted, archiveId: result.archiveId };
}

type Parts = ReturnType<typeof split>;

/**
 * A batch job (store-batch.ts): each item is checked (shape, quota) on its own and a bad one is
 * refused alone; the good ones are committed in one transaction per archive (the recipient's, and
 * the sender's for own-AK copies), then acknowledged in one receipt stanza. Should a batch commit
 * fail for a reason of one item, the items are committed one by one instead.
 */
async function processStoreBatch(items: readonly StoreJobData[], deps: StoreWorkerDeps): Promise<StoreJobResult> {
  const started = Date.now();
  const first = items[0] as StoreJobData;
  const { recipient, sender } = first;
  const counts = deps.archive.pendingCounts(recipient);
  const good: { job: StoreJobData; parts: Parts }[] = [];
  for (const job of items) {
    try {
      const parts = split(job.envelope);
      if (deps.archive.deliveryState(recipient, sender, job.messageId) === undefined) {
        if (counts.messages + 1 > deps.quota.pendingMaxCount || counts.bytes + parts.payload.length > deps.quota.pendingMaxBytes)
          throw new AppError(ErrorCode.ResourceLimit, `${recipient} has too many undelivered messages; retry later`);
        counts.messages++;
        counts.bytes += parts.payload.length;
      }
      good.push({ job, parts });
    } catch (err) {
      if (!AppError.is(err)) throw err;
      await deps.notifier.refused(job, err);
    }
  }
  if (good.length === 0) return { inserted: false, archiveId: '' };

  const incoming = good.map(({ job, parts }) => ({
    sender,
    senderDevice: job.envelope.device,
    messageId: job.messageId,
    suite: job.envelope.suite,
    payload: parts.payload,
    deviceBlocks: parts.deviceBlocks,
    archiveBlock: parts.recipientAk,
    receivedAt: job.receivedAt,
  }));
  const outgoing = good.flatMap(({ job, parts }) =>
    parts.senderAk === undefined
      ? []
      : [{ recipient, senderDevice: job.envelope.device, messageId: job.messageId, suite: job.envelope.suite, payload: parts.payload, archiveBlock: parts.senderAk, receivedAt: job.receivedAt }],
  );
  let stored: { job: StoreJobData; inserted: boolean; archiveId: string }[];
  const many = deps.archive.storeIncomingMany?.bind(deps.archive);
  const outMany = deps.archive.storeOutgoingMany?.bind(deps.archive);
  try {
    if (many === undefined || outMany === undefined) throw new AppError(ErrorCode.Internal, 'no batch commits');
    const results = many(recipient, incoming);
    if (outgoing.length > 0) outMany(sender, outgoing);
    stored = good.map(({ job }, i) => ({ job, inserted: results[i]?.inserted ?? false, archiveId: results[i]?.archiveId ?? '' }));
  } catch (err) {
    if (AppError.is(err) && !err.permanent && err.code !== ErrorCode.Internal) throw err; // transient: the job runs again
    stored = [];
    for (const [i, { job }] of good.entries()) {
      try {
        const r = deps.archive.storeIncoming(recipient, incoming[i] as (typeof incoming)[number]);
        const own = outgoing.find((o) => o.messageId === job.messageId);
        if (own !== undefined) deps.archive.storeOutgoing(sender, own);
        stored.push({ job, inserted: r.inserted, archiveId: r.archiveId });
      } catch (one) {
        if (!AppError.is(one) || !one.permanent) throw one;
        await deps.notifier.refused(job, one);
      }
    }
  }
  for (const s of stored) {
    deps.metrics?.stores.inc({ result: s.inserted ? 'stored' : 'duplicate' });
    deps.metrics?.storeLatency.observe((Date.now() - s.job.receivedAt) / 1000);
  }
  deps.logger.debug({ recipient, items: items.length, stored: stored.length, ms: Date.now() - started }, 'stored batch');
  if (stored.length === 0) return { inserted: false, archiveId: '' };
  // Committed (synchronous=FULL): now, and only now, the receipts.
  if (deps.notifier.receipts !== undefined)
    await deps.notifier.receipts(
      first,
      stored.map((s) => s.job.messageId),
    );
  else for (const s of stored) await deps.notifier.receipt(s.job);
  const devices = [...new Set(good.flatMap(({ parts }) => parts.deviceBlocks.map((b) => b.deviceId)))];
  if (deps.listener !== undefined && devices.length > 0) await deps.listener.stored(recipient, devices);
  return { inserted: stored.some((s) => s.inserted), archiveId: (stored[0] as { archiveId: string }).archiveId };
}
