// The store worker (design.md invariants 2 and 4): commits checked submissions to the recipient's
// encrypted archive (payload once, one key block per device, the AK copy) and the sender's own-AK
// copies to the sender's archive; only after that commit are they acknowledged. One path for a
// job of one item and a batch job (issue 9): each item is checked (shape, quota) on its own and a
// bad one refused alone; the good ones are committed in one transaction per archive, then named
// in one receipt stanza. Storing is idempotent on (sender, message id), so a job run twice leaves
// one row and acknowledges it again.
import { AppError, ErrorCode } from '../errors/index.js';
import type { EnvelopeWire } from '../keys/index.js';
import { NO_USAGE, type ArchiveStore, type IncomingItem, type OutgoingItem, type StoreResult } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { costOf, QuotaCheck, type QuotaLimits, type UsageMirror } from '../quota/index.js';
import type { StoreItem, StoreJobData, StoreJobResult } from './contract.js';
import { checkRecipient, type DeviceLookup } from './recipient-check.js';
import { batchJob, jobItems } from './store-batch.js';

/** How the store worker talks back to the sender (XMPP in the service). */
export interface SenderNotifier {
  /** One receipt naming the committed items of a job (`first`: its first item, for the reply address and stanza id). */
  receipts(first: StoreItem, messageIds: readonly string[]): Promise<void>;
  refused(item: StoreItem, err: AppError): Promise<void>;
}

/** Called after commit so online devices get the new message at once. */
export interface StoredListener {
  stored(recipient: string, devices: readonly number[]): Promise<void>;
}

/** The recipient's bounds and a sender's share of them (src/quota). */
export type StoreQuota = QuotaLimits;

export interface StoreWorkerDeps {
  archive: Pick<ArchiveStore, 'storeIncoming' | 'storeOutgoing' | 'storeIncomingMany' | 'storeOutgoingMany' | 'quotaUsage' | 'deliveryState'>;
  /** The shard's key directory: recipients are checked here, where their entries live (issue 15). */
  directory?: DeviceLookup;
  notifier: SenderNotifier;
  listener?: StoredListener;
  /**
   * Sent-history copies of a sender of another shard (issue 15): queued to that shard after the
   * commit, before the receipt. Without it every copy is written here.
   */
  sentCopies?: { local(sender: string): boolean; enqueue(job: StoreJobData): Promise<void> };
  quota: StoreQuota;
  /** Told when the owner refused over quota what the ingest let through: its view was stale. */
  usage?: Pick<UsageMirror, 'publish'>;
  logger: Logger;
  metrics?: Metrics;
}

const MAX_BASE64 = 4 * Math.ceil((1 << 30) / 3); // characters of padded base64 for 1 GiB

/**
 * A base64 field of a job: checked strictly (canonical, bounded) by the ingest before it queued the
 * job, so decoded here without scanning it again (issue 16: that scan was 2-5% of the service's
 * CPU). A string that is not base64 (a job written past the ingest) is still refused: the decoder
 * skips what is not base64, so it writes fewer bytes than the length promises.
 */
function bytes(label: string, b64: unknown): Uint8Array {
  if (typeof b64 !== 'string' || b64.length === 0 || b64.length % 4 !== 0 || b64.length > MAX_BASE64)
    throw new AppError(ErrorCode.BadInput, `${label}: not base64 of 1 byte to 1 GiB`);
  const n = (b64.length / 4) * 3 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
  const out = new Uint8Array(n);
  if (n === 0 || Buffer.from(out.buffer, out.byteOffset, n).write(b64, 'base64') !== n) throw new AppError(ErrorCode.BadInput, `${label}: not base64`);
  return out;
}

/** The recipient's directory entries read once per job (every item of a job has one recipient). */
function memoLookup(directory: DeviceLookup): DeviceLookup {
  const devices = new Map<string, number[]>();
  const archiveKey = new Map<string, boolean>();
  return {
    devices(jid) {
      let d = devices.get(jid);
      if (d === undefined) devices.set(jid, (d = directory.devices(jid)));
      return d;
    },
    hasArchiveKey(jid) {
      let a = archiveKey.get(jid);
      if (a === undefined) archiveKey.set(jid, (a = directory.hasArchiveKey(jid)));
      return a;
    },
  };
}

/** An item as the archive takes it: the recipient's row and, with a sender AK block, the sender's. */
interface Checked {
  item: StoreItem;
  incoming: IncomingItem;
  outgoing: OutgoingItem | undefined;
  devices: number[];
}

function toArchive(item: StoreItem): Checked {
  const env: EnvelopeWire = item.envelope;
  // A job names its sender, recipient and id beside the envelope: they must agree (issue 14,
  // attack 4), or a job written past ingest files one sender's message under another's name.
  if (env.from !== item.sender || env.to !== item.recipient || env.id !== item.messageId)
    throw new AppError(ErrorCode.Forbidden, `store job for ${item.messageId}: its sender, recipient or id differs from the envelope's`);
  const payload = bytes('payload', env.payload);
  const deviceBlocks = env.blocks
    .filter((b) => b.device !== undefined)
    .map((b) => ({ deviceId: b.device ?? 0, prekeyId: b.prekey, block: bytes('key block', b.box) }));
  const akFor = (owner: 'recipient' | 'sender') => {
    const b = env.blocks.find((x) => x.ak === owner);
    return b === undefined ? undefined : { akId: b.prekey, block: bytes('archive block', b.box) };
  };
  const common = { senderDevice: env.device, messageId: item.messageId, suite: env.suite, payload, receivedAt: item.receivedAt };
  const senderAk = akFor('sender');
  return {
    item,
    incoming: { ...common, sender: item.sender, deviceBlocks, archiveBlock: akFor('recipient') },
    outgoing: senderAk === undefined ? undefined : { ...common, recipient: item.recipient, archiveBlock: senderAk },
    devices: deviceBlocks.map((b) => b.deviceId),
  };
}

/**
 * The items that pass the recipient's quota and the sender's share of it, on the archive's exact
 * counters (a repeat always passes); the others are refused, and the job still completes.
 */
async function admit(items: readonly StoreItem[], deps: StoreWorkerDeps): Promise<Checked[]> {
  const { recipient, sender } = items[0] as StoreItem;
  const use = deps.archive.quotaUsage(recipient, [sender]);
  const quota = new QuotaCheck(deps.quota, recipient, use.total, use.senders.get(sender) ?? NO_USAGE);
  const good: Checked[] = [];
  let overQuota = false;
  const directory = deps.directory === undefined ? undefined : memoLookup(deps.directory);
  for (const item of items) {
    try {
      const c = toArchive(item);
      if (directory !== undefined) checkRecipient(item.envelope, directory);
      const refusal = deps.archive.deliveryState(recipient, sender, item.messageId) === undefined ? quota.admit(costOf(item.envelope)) : undefined;
      overQuota ||= refusal !== undefined;
      if (refusal !== undefined) throw refusal;
      good.push(c);
    } catch (err) {
      if (!AppError.is(err)) throw err;
      await deps.notifier.refused(item, err);
    }
  }
  if (overQuota) deps.usage?.publish(recipient, [sender]);
  return good;
}

function write(group: readonly Checked[], deps: StoreWorkerDeps): StoreResult[] {
  const { recipient, sender } = (group[0] as Checked).item;
  const here = deps.sentCopies?.local(sender) ?? true;
  const outgoing = here ? group.flatMap((c) => (c.outgoing === undefined ? [] : [c.outgoing])) : [];
  if (group.length === 1) {
    const one = deps.archive.storeIncoming(recipient, (group[0] as Checked).incoming);
    if (outgoing[0] !== undefined) deps.archive.storeOutgoing(sender, outgoing[0]);
    return [one];
  }
  const results = deps.archive.storeIncomingMany(recipient, group.map((c) => c.incoming));
  if (outgoing.length > 0) deps.archive.storeOutgoingMany(sender, outgoing);
  return results;
}

interface Stored {
  c: Checked;
  result: Pick<StoreResult, 'inserted' | 'archiveId' | 'conflict'>;
}

/**
 * Commits `group` in one transaction per archive. Should that fail for a reason of one item
 * (a permanent error), the items are committed one by one and only the failing ones refused; a
 * transient error fails the job, which runs again.
 */
async function commit(group: readonly Checked[], deps: StoreWorkerDeps): Promise<Stored[]> {
  try {
    const results = write(group, deps);
    return group.map((c, i) => ({ c, result: results[i] ?? { inserted: false, archiveId: '', conflict: false } }));
  } catch (err) {
    if (!AppError.is(err) || !err.permanent) throw err;
    if (group.length === 1) {
      await deps.notifier.refused((group[0] as Checked).item, err);
      return [];
    }
    const out: Stored[] = [];
    for (const c of group) out.push(...(await commit([c], deps)));
    return out;
  }
}

/** A sentCopy job: the sender's own copies into the sender's archive (idempotent), nobody told. */
function storeSentCopies(job: StoreJobData, deps: StoreWorkerDeps): StoreJobResult {
  const outgoing = jobItems(job).flatMap((item) => toArchive(item).outgoing ?? []);
  if (outgoing.length > 0) deps.archive.storeOutgoingMany(job.sender, outgoing);
  return { inserted: outgoing.length > 0, archiveId: '' };
}

/** The processor body, free of BullMQ so tests can drive it directly. */
export async function processStore(job: StoreJobData, deps: StoreWorkerDeps): Promise<StoreJobResult> {
  if (job.sentCopy === true) return storeSentCopies(job, deps);
  const started = Date.now();
  const items = jobItems(job);
  const good = await admit(items, deps);
  const committed = good.length === 0 ? [] : await commit(good, deps);
  // A resend with the id of a stored message but other bytes is not that message: acknowledging
  // it would tell its sender that content was kept when it was discarded (issue 14).
  const stored: Stored[] = [];
  for (const s of committed) {
    if (!s.result.conflict) stored.push(s);
    else await deps.notifier.refused(s.c.item, new AppError(ErrorCode.Replay, `message id ${s.c.item.messageId} is already stored with other content; send it under a new id`));
  }
  for (const s of stored) {
    deps.metrics?.stores.inc({ result: s.result.inserted ? 'stored' : 'duplicate' });
    deps.metrics?.storeLatency.observe((Date.now() - s.c.item.receivedAt) / 1000);
  }
  deps.logger.debug({ recipient: job.recipient, items: items.length, stored: stored.length, ms: Date.now() - started }, 'stored');
  const first = stored[0];
  if (first === undefined) return { inserted: false, archiveId: '' };
  const elsewhere = stored.filter((s) => s.c.outgoing !== undefined);
  if (deps.sentCopies !== undefined && !deps.sentCopies.local(job.sender) && elsewhere.length > 0)
    await deps.sentCopies.enqueue({ ...batchJob(elsewhere.map((s) => s.c.item)).data, sentCopy: true });
  // Committed (synchronous=FULL): now, and only now, the receipt.
  await deps.notifier.receipts(items[0] as StoreItem, stored.map((s) => s.c.item.messageId));
  const devices = [...new Set(stored.flatMap((s) => s.c.devices))];
  if (deps.listener !== undefined && devices.length > 0) await deps.listener.stored(job.recipient, devices);
  return { inserted: stored.some((s) => s.result.inserted), archiveId: first.result.archiveId };
}
