// Ingest of sealed submissions (design.md "XMPP surfaces": Submit; invariants 4 and 5): every
// `<message>` to the vault carrying `<sealed/>` items is checked — size, shapes, base64, suite,
// the stamped sender, the recipient and its devices, the sender's rate — and each good item becomes
// a store job. Nothing is decrypted. A bad item is answered with `<message type='error'>`.
import { AppError, ErrorCode } from '../errors/index.js';
import { checkEnvelopeWire, type EnvelopeWire, type Limits } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { envelopeFromXml, itemWireBytes, maxItemBytes, NS, refusalStanza, stanzaBytes, toStanzaError } from '../protocol/index.js';
import { costOf, type QuotaGate } from '../quota/index.js';
import type { RateLimiter } from '../ratelimit/index.js';
import { batchJob, checkRecipient, type DeviceLookup, type StoreEnqueuer, type StoreItem } from '../workers/index.js';
import { bareJid, type Element, type XmppConnection } from '../xmpp/index.js';

export interface IngestLimits extends Limits {
  maxStanzaBytes: number;
  /** Sealed items in one submission stanza (batches). */
  maxItemsPerStanza: number;
}

export type { DeviceLookup };

export interface SubmitDeps {
  conn: XmppConnection;
  /** The key directory when this process holds it; without it the shard's owner checks recipients. */
  directory?: DeviceLookup | undefined;
  /** Where accepted items go: the store queue (workers' createStoreEnqueuer in the service). */
  queue: Pick<StoreEnqueuer, 'enqueue'>;
  senderLimiter: RateLimiter;
  /** The recipients' quotas as their owners published them (src/quota); none = the owner alone checks. */
  quota?: QuotaGate;
  limits: IngestLimits;
  logger: Logger;
  metrics?: Metrics;
  now?: () => number;
}

/** True for stanzas this handler owns: messages (not errors) with at least one sealed item. */
export function isSubmission(stanza: Element): boolean {
  return stanza.is('message') && stanza.attrs.type !== 'error' && stanza.getChild('sealed', NS.sealed) !== undefined;
}

/** The directory as one stanza sees it: a batch names its recipient up to 64 times, looked up once. */
function stanzaDirectory(d: DeviceLookup): DeviceLookup {
  const devices = new Map<string, number[]>();
  const aks = new Map<string, boolean>();
  const once = <T>(m: Map<string, T>, jid: string, get: (jid: string) => T): T => {
    if (!m.has(jid)) m.set(jid, get(jid));
    return m.get(jid) as T;
  };
  return { devices: (jid) => once(devices, jid, (j) => d.devices(j)), hasArchiveKey: (jid) => once(aks, jid, (j) => d.hasArchiveKey(j)) };
}

function checkItem(el: Element, sender: string, deps: SubmitDeps, directory: DeviceLookup | undefined): EnvelopeWire {
  const { limits } = deps;
  const wire = envelopeFromXml(el, limits.maxDevices + 2);
  // Stored only if it can go out again: wrapped in a delivery or a MAM result, under the stanza limit.
  const size = itemWireBytes(wire);
  if (size > maxItemBytes(limits.maxStanzaBytes))
    throw new AppError(
      ErrorCode.ResourceLimit,
      `sealed item of about ${size} bytes: it would not fit a ${limits.maxStanzaBytes}-byte stanza once wrapped for delivery (at most ${maxItemBytes(limits.maxStanzaBytes)})`,
    );
  // Checked, not decoded: the store worker decodes each item once, where it keeps it (issue 16).
  const { wire: checked } = checkEnvelopeWire(wire, { limits, expectFrom: sender });
  // Where this process holds the directory (one process) it refuses at once; the owner checks again.
  if (directory !== undefined) checkRecipient(checked, directory);
  // Only checked, canonical fields travel on.
  return checked;
}

/** Handles one submission stanza; resolves when every item is enqueued or refused. */
export async function handleSubmission(stanza: Element, deps: SubmitDeps): Promise<void> {
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  const from = typeof stanza.attrs.from === 'string' ? stanza.attrs.from : undefined;
  const stanzaId = typeof stanza.attrs.id === 'string' ? stanza.attrs.id.slice(0, 128) : '';
  if (from === undefined) return; // not routed by a server: nobody to answer, nothing to trust
  let sender: string;
  try {
    sender = bareJid(from);
  } catch {
    return;
  }
  const items = stanza.getChildren('sealed', NS.sealed);

  const refuse = async (err: unknown, messageId?: string): Promise<void> => {
    const spec = toStanzaError(err);
    deps.metrics?.submissions.inc({ result: spec.condition });
    log.info({ sender, condition: spec.condition, code: AppError.is(err) ? err.code : 'internal' }, 'submission refused');
    await deps.conn.send(refusalStanza(from, stanzaId, messageId, err));
  };

  try {
    const size = stanzaBytes(stanza);
    if (size > deps.limits.maxStanzaBytes)
      throw new AppError(ErrorCode.ResourceLimit, `submission of ${size} bytes is over the ${deps.limits.maxStanzaBytes}-byte stanza limit`);
    if (items.length > deps.limits.maxItemsPerStanza)
      throw new AppError(ErrorCode.ResourceLimit, `${items.length} sealed items in one stanza, at most ${deps.limits.maxItemsPerStanza}`);
    const take = await deps.senderLimiter.take(`submit ${sender}`, items.length);
    if (!take.allowed)
      throw new AppError(ErrorCode.Policy, `sending too fast; retry in ${Math.ceil(take.retryAfterMs / 1000)} s`);
  } catch (err) {
    await refuse(err);
    return;
  }

  // Each item is checked on its own; the good ones go to the store queue as one job per
  // recipient (issue 9 batches: one commit and one receipt stanza for them), in stanza order.
  const good: StoreItem[] = [];
  const receivedAt = now();
  const directory = deps.directory === undefined ? undefined : stanzaDirectory(deps.directory);
  for (const el of items) {
    const messageId = typeof el.attrs.id === 'string' ? el.attrs.id.slice(0, 64) : undefined;
    let envelope: EnvelopeWire;
    try {
      envelope = checkItem(el, sender, deps, directory);
    } catch (err) {
      await refuse(err, messageId);
      continue;
    }
    good.push({
      sender,
      replyTo: from,
      stanzaId: items.length === 1 && stanzaId ? stanzaId : envelope.id,
      recipient: envelope.to,
      messageId: envelope.id,
      receivedAt,
      envelope,
    });
  }
  const byRecipient = new Map<string, StoreItem[]>();
  for (const item of good) {
    const group = byRecipient.get(item.recipient);
    if (group === undefined) byRecipient.set(item.recipient, [item]);
    else group.push(item);
  }
  for (const all of byRecipient.values()) {
    let group = all;
    try {
      // Over the recipient's quota or this sender's share of it: refused now, nothing queued (issue 14).
      const verdicts = deps.quota === undefined ? [] : await deps.quota.check(all[0]?.recipient ?? '', sender, all.map((g) => costOf(g.envelope)));
      group = all.filter((_, i) => verdicts[i] === undefined);
      for (const [i, v] of verdicts.entries()) if (v !== undefined) await refuse(v, all[i]?.messageId);
      if (group.length === 0) continue;
      // A batch answers with one receipt that echoes the submission stanza's id.
      const { jobId, data } = batchJob(group.length > 1 && stanzaId ? group.map((g) => ({ ...g, stanzaId })) : group);
      await deps.queue.enqueue(jobId, data);
      deps.metrics?.submissions.inc({ result: 'accepted' }, group.length);
    } catch (err) {
      // Redis down: the sender gets no receipt and resends; tell it to wait.
      const unavailable = new AppError(ErrorCode.Unavailable, 'the vault cannot queue submissions right now; retry later', { cause: err });
      for (const item of group) await refuse(unavailable, item.messageId);
    }
  }
}
