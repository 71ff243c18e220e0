// The delivery worker (design.md invariant 3, issue 6): streams one device's pending copies in
// archive order to its full JID, at most `window` unacknowledged at a time; only the device's
// receipt marks a copy delivered. Unacknowledged copies go again after `ackTimeoutMs` without a
// receipt (a few rounds) and on the next presence; delivery stops when the device goes away.
// Free of XMPP: a transport sends, and the receipt handler feeds acknowledgements in via the hub.
import type { ArchiveStore, PendingItem } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { DeliverJobData, DeliverJobResult } from './contract.js';
import type { DeliveryItem } from '../protocol/delivery.js';
import type { DeliveryScheduler } from './deliver-schedule.js';
import type { DeliveryHub, DeliverySession } from './deliver-hub.js';
import type { PresenceRegistry } from './presence.js';

/** One device's copy of a stored message, as it goes out, with its earlier sends counted. */
export interface DeliveryCopy extends DeliveryItem {
  /** Earlier sends of this copy. */
  attempts: number;
}

/** Sends one copy to the device's full JID `to` (an XMPP connection of the vault account). */
export interface DeliveryTransport {
  send(to: string, copy: DeliveryCopy): Promise<void>;
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
  registry: Pick<PresenceRegistry, 'resourceOf'>;
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
      for (const item of batch) {
        if (s.gone || s.stopped || s.kicked) break;
        inflight.set(keyOf(item.sender, item.messageId), { seq: item.seq, sentAt: now() });
        await deps.transport.send(to, copyOf(jid, item));
        seqs.push(item.seq);
        cursor = item.seq;
        sent++;
        deps.metrics?.deliveries.inc({ result: 'sent' });
        if (item.attempts > 0) deps.metrics?.redeliveries.inc();
      }
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
  try {
    for (;;) {
      await deps.scheduler.begin(jid, device);
      s.gone = false;
      const r = await round(data, s, { ...deps, logger: log });
      sent += r.sent;
      if (r.end === 'stopped') {
        await deps.scheduler.release(jid, device);
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
  archive: Pick<ArchiveStore, 'markDelivered'>;
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
