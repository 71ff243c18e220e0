// The delivery worker (design.md invariant 3, issue 6): streams one device's pending copies in
// archive order to its full JID, at most `window` unacknowledged at a time; only the device's
// receipt marks a copy delivered. Unacknowledged copies go again after `ackTimeoutMs` without a
// receipt (a few rounds) and on the next presence; delivery stops when the device goes away.
// Free of XMPP: a transport sends, and the receipt handler feeds acknowledgements in via the hub.
import type { ArchiveStore, PendingItem } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { DeliverJobData, DeliverJobResult } from './contract.js';
import type { DeliveryItem } from '../protocol/index.js';
import type { DeliveryScheduler } from './deliver-schedule.js';
import type { DeliveryHub, DeliverySession } from './deliver-hub.js';
import type { PresenceRegistry } from './presence-registry.js';

/** One device's copy of a stored message, as it goes out, with its earlier sends counted. */
export interface DeliveryCopy extends DeliveryItem {
  /** Earlier sends of this copy. */
  attempts: number;
}

/** Sends one copy to the device's full JID `to` (an XMPP connection of the vault account). */
export interface DeliveryTransport {
  send(to: string, copy: DeliveryCopy): Promise<void>;
  /**
   * Sends several copies in one stanza (issue 9 batches; each still acknowledged on its own).
   * Without it every copy goes alone.
   */
  sendMany?(to: string, copies: readonly DeliveryCopy[]): Promise<void>;
}

/** Copies per batch stanza, and their estimated encoded size, at most (well under a 256 KiB stanza). */
export const BATCH_MAX_COPIES = 64;
export const BATCH_MAX_BYTES = 128 * 1024;

/** Base64 of the payload and key block plus the element overhead: the copy's share of a stanza. */
const encodedSize = (c: DeliveryCopy): number => Math.ceil((c.payload.length + c.keyBlock.length) / 3) * 4 + 1024;

/** Splits copies (in order) into batches within `maxCopies` and BATCH_MAX_BYTES; a large copy goes alone. */
export function batchCopies(copies: readonly DeliveryCopy[], maxCopies = BATCH_MAX_COPIES): DeliveryCopy[][] {
  const out: DeliveryCopy[][] = [];
  let current: DeliveryCopy[] = [];
  let bytes = 0;
  for (const c of copies) {
    const size = encodedSize(c);
    if (current.length > 0 && (current.length >= Math.min(maxCopies, BATCH_MAX_COPIES) || bytes + size > BATCH_MAX_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(c);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function copyOf(recipient: string, item: PendingItem): DeliveryCopy {
  return {
    recipient,
    sender: item.sender,
    senderDevice: item.senderDevice,
    messageId: item.messageId,
    suite: item.suite,
    receivedAt: item.receivedAt,
    payload: item.payload,
    device: item.keyBlock.deviceId,
    prekeyId: item.keyBlock.prekeyId,
    keyBlock: item.keyBlock.block,
    attempts: item.attempts,
  };
}

export interface DeliverWorkerDeps {
  archive: Pick<ArchiveStore, 'pendingFor' | 'markAttempted'>;
  registry: Pick<PresenceRegistry, 'resourceOf' | 'batchOf'>;
  scheduler: Pick<DeliveryScheduler, 'begin' | 'finish' | 'release' | 'refresh'>;
  transport: DeliveryTransport;
  hub: DeliveryHub;
  /** Unacknowledged copies in flight per device (config deliveryWindow). */
  window: number;
  /** No receipt for this long: send the unacknowledged copies again (default 30 s). */
  ackTimeoutMs?: number;
  /** Give up after this many timeouts in a row; the next presence starts again (default 3). */
  maxRounds?: number;
  /** How often a waiting job re-checks the registry and renews its mark (default 1 s). */
  pollMs?: number;
  logger: Logger;
  metrics?: Metrics;
  now?: () => number;
}

type RoundEnd = 'drained' | 'gone' | 'stalled' | 'stopped';

interface Flight {
  seq: number;
  sentAt: number;
}

const keyOf = (sender: string, messageId: string): string => `${messageId}\u0000${sender}`;
/** Copies read per archive query: payloads reach 192 KiB, so a page stays a few MiB at most. */
const PAGE = 32;

/** One pass over the device's pending copies while it stays available. */
async function round(data: DeliverJobData, s: DeliverySession, deps: DeliverWorkerDeps): Promise<{ end: RoundEnd; sent: number }> {
  const { jid, device } = data;
  const now = deps.now ?? Date.now;
  const ackTimeout = deps.ackTimeoutMs ?? 30_000;
  const pollMs = deps.pollMs ?? 1000;
  const log = deps.logger;
  let resource = await deps.registry.resourceOf(jid, device);
  if (resource === undefined) return { end: 'gone', sent: 0 };
  // Batches only to a session that said it takes them (its announcement), else one copy a stanza.
  let perStanza = deps.transport.sendMany === undefined ? 1 : ((await deps.registry.batchOf?.(jid, device)) ?? 1);
  const inflight = new Map<string, Flight>();
  let cursor = 0;
  let sent = 0;
  let stalls = 0;
  let lastProgress = now();
  let lastPoll = now();
  s.kicked = false;

  for (;;) {
    if (s.stopped) return { end: 'stopped', sent };
    if (s.gone) return { end: 'gone', sent };
    if (s.kicked) {
      // A new presence of the device: everything unacknowledged goes again, to where it is now.
      s.kicked = false;
      resource = await deps.registry.resourceOf(jid, device);
      if (resource === undefined) return { end: 'gone', sent };
      if (deps.transport.sendMany !== undefined) perStanza = (await deps.registry.batchOf?.(jid, device)) ?? 1;
      inflight.clear();
      cursor = 0;
      stalls = 0;
      lastProgress = now();
    }
    for (const ack of s.takeAcks()) {
      const f = inflight.get(keyOf(ack.sender, ack.messageId));
      if (f === undefined) continue;
      inflight.delete(keyOf(ack.sender, ack.messageId));
      deps.metrics?.deliveryLatency.observe((now() - f.sentAt) / 1000);
      lastProgress = now();
      stalls = 0;
    }

    // Fill the window, in archive order, from where this round got to.
    const to = `${jid}/${resource}`;
    let more = true;
    while (more && inflight.size < deps.window && !s.gone && !s.stopped) {
      const batch = deps.archive.pendingFor(jid, device, { afterSeq: cursor, limit: Math.min(PAGE, deps.window - inflight.size) });
      more = batch.length > 0;
      const seqs: number[] = [];
      const batched: DeliveryCopy[] = [];
      for (const item of batch) {
        if (s.gone || s.stopped || s.kicked) break;
        inflight.set(keyOf(item.sender, item.messageId), { seq: item.seq, sentAt: now() });
        if (perStanza <= 1) await deps.transport.send(to, copyOf(jid, item));
        else batched.push(copyOf(jid, item));
        seqs.push(item.seq);
        cursor = item.seq;
        sent++;
        deps.metrics?.deliveries.inc({ result: 'sent' });
        if (item.attempts > 0) deps.metrics?.redeliveries.inc();
      }
      const sendMany = deps.transport.sendMany?.bind(deps.transport);
      if (sendMany !== undefined) for (const copies of batchCopies(batched, perStanza)) await sendMany(to, copies);
      if (seqs.length > 0) deps.archive.markAttempted(jid, device, seqs);
      if (s.kicked) break;
    }
    if (inflight.size === 0 && !more) return { end: 'drained', sent };

    const idle = now() - lastProgress;
    if (inflight.size > 0 && idle >= ackTimeout) {
      stalls++;
      if (stalls >= (deps.maxRounds ?? 3)) {
        log.info({ device, unacked: inflight.size, rounds: stalls }, 'no receipts from the device; waiting for its next presence');
        return { end: 'stalled', sent };
      }
      log.info({ device, unacked: inflight.size }, 'no receipt in time; sending the unacknowledged copies again');
      inflight.clear();
      cursor = 0;
      lastProgress = now();
      continue;
    }
    await s.wait(Math.max(1, Math.min(pollMs, ackTimeout - idle)));
    if (now() - lastPoll >= pollMs) {
      // Another process may have seen the unavailable presence: ask the registry.
      lastPoll = now();
      await deps.scheduler.refresh(jid, device);
      const where = await deps.registry.resourceOf(jid, device);
      if (where === undefined) return { end: 'gone', sent };
      if (where !== resource) s.kicked = true;
    }
  }
}

/** The deliver job: rounds until drained (and nothing new wanted), gone, stalled or stopped. */
export async function processDeliver(data: DeliverJobData, deps: DeliverWorkerDeps): Promise<DeliverJobResult> {
  const { jid, device } = data;
  const log = deps.logger.child({ job: 'deliver', device });
  const s = deps.hub.open(jid, device);
  let sent = 0;
  log.debug('delivery job start');
  try {
    for (;;) {
      await deps.scheduler.begin(jid, device);
      s.gone = false;
      const r = await round(data, s, { ...deps, logger: log });
      sent += r.sent;
      log.debug({ sent: r.sent, end: r.end }, 'delivery round end');
      if (r.end === 'stopped') {
        await deps.scheduler.release(jid, device);
        log.debug({ sent }, 'delivery job stopped; mark released');
        return { sent };
      }
      // Released unless a new message or presence asked for delivery meanwhile: then go again.
      if (await deps.scheduler.finish(jid, device)) {
        log.debug({ sent, end: r.end }, 'delivery job done');
        return { sent };
      }
    }
  } finally {
    deps.hub.close(s);
  }
}

export interface ReceiptDeps {
  archive: Pick<ArchiveStore, 'markDelivered'> & Partial<Pick<ArchiveStore, 'markDeliveredMany'>>;
  registry: Pick<PresenceRegistry, 'deviceAt' | 'touch'>;
  hub: DeliveryHub;
  logger: Logger;
  metrics?: Metrics;
  /** Called after a copy was marked delivered (pending gauges). */
  onDelivered?: (jid: string) => void;
}

export type ReceiptOutcome = 'delivered' | 'repeat' | 'unknown-resource' | 'not-addressed';

/**
 * A device's receipt for a delivered copy. The device is the one the registry holds for the
 * stamped full JID; a receipt can only ever settle that device's own copy.
 */
export async function handleReceipt(
  r: { jid: string; resource: string; sender: string; messageId: string },
  deps: ReceiptDeps,
): Promise<ReceiptOutcome> {
  const device = await deps.registry.deviceAt(r.jid, r.resource);
  if (device === undefined) {
    deps.logger.debug('receipt from a resource with no registered device ignored');
    return 'unknown-resource';
  }
  const result = deps.archive.markDelivered(r.jid, device, r.sender, r.messageId);
  deps.hub.acked(r.jid, device, r.sender, r.messageId);
  if (!result.found) return 'not-addressed';
  if (!result.changed) return 'repeat';
  deps.metrics?.deliveries.inc({ result: 'acked' });
  deps.onDelivered?.(r.jid);
  await deps.registry.touch(r.jid);
  return 'delivered';
}

/**
 * Several receipts of one device (one stanza from one full JID): one registry look-up, one
 * archive transaction (a group commit), then each acknowledged copy is signalled as by
 * handleReceipt. Outcomes in the order given.
 */
export async function handleReceipts(
  r: { jid: string; resource: string; receipts: readonly { sender: string; messageId: string }[] },
  deps: ReceiptDeps,
): Promise<ReceiptOutcome[]> {
  if (r.receipts.length === 0) return [];
  const markMany = deps.archive.markDeliveredMany?.bind(deps.archive);
  if (r.receipts.length === 1 || markMany === undefined) {
    const out: ReceiptOutcome[] = [];
    for (const x of r.receipts) out.push(await handleReceipt({ jid: r.jid, resource: r.resource, ...x }, deps));
    return out;
  }
  const device = await deps.registry.deviceAt(r.jid, r.resource);
  if (device === undefined) {
    deps.logger.debug('receipts from a resource with no registered device ignored');
    return r.receipts.map(() => 'unknown-resource');
  }
  const results = markMany(r.jid, device, r.receipts);
  let delivered = 0;
  const out = r.receipts.map((x, i): ReceiptOutcome => {
    deps.hub.acked(r.jid, device, x.sender, x.messageId);
    const result = results[i];
    if (result === undefined || !result.found) return 'not-addressed';
    if (!result.changed) return 'repeat';
    delivered++;
    return 'delivered';
  });
  if (delivered > 0) {
    deps.metrics?.deliveries.inc({ result: 'acked' }, delivered);
    deps.onDelivered?.(r.jid);
    await deps.registry.touch(r.jid);
  }
  return out;
}
