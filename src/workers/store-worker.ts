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

/** How the store worker talks back to the sender (XMPP in the service). */
export interface SenderNotifier {
  receipt(job: StoreJobData): Promise<void>;
  refused(job: StoreJobData, err: AppError): Promise<void>;
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
  archive: Pick<ArchiveStore, 'storeIncoming' | 'storeOutgoing' | 'pendingCounts' | 'deliveryState'>;
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
export async function processStore(job: StoreJobData, deps: StoreWorkerDeps): Promise<StoreJobResult> {
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
