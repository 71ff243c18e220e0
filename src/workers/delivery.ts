// The delivery side assembled for the composition root (issue 6): the presence registry and job
// scheduler in Redis, the in-process hub between receipts/presence and running jobs, the pending
// gauges, and the three entry points the XMPP side calls: a commit, a receipt, a device's coming
// and going. XMPP stays outside: main.ts hands in a transport and feeds in parsed receipts.
import type { ArchiveStore } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Job, Redis } from './bullmq.js';
import type { DeliverJobData, DeliverJobName, DeliverJobResult } from './contract.js';
import { DeliveryHub } from './deliver-hub.js';
import { createDeliveryScheduler, type DeliveryScheduler } from './deliver-schedule.js';
import { handleReceipt, handleReceipts, processDeliver, type DeliveryTransport, type ReceiptOutcome } from './deliver-worker.js';
import { createPendingSampler, type PendingSampler } from './pending-sampler.js';
import { createOnlineDevices } from './online-devices.js';
import { createPresenceRegistry, DEFAULT_PRESENCE_TTL_SECONDS, type PresenceRegistry } from './presence-registry.js';
import type { DeliverShards } from './queues.js';

export interface DeliveryTiming {
  /** No receipt for this long: send the unacknowledged copies again (default 30 s). */
  ackTimeoutMs?: number;
  /** Timeouts in a row before a job waits for the next presence (default 3). */
  maxRounds?: number;
  /** Registry re-check while waiting (default 1 s). */
  pollMs?: number;
}

export interface DeliveryOptions {
  /** A producer connection (fail fast). */
  redis: Redis;
  prefix: string;
  /** The delivery queues; a user's jobs go to its shard's. */
  queues: Pick<DeliverShards, 'for' | 'shards'>;
  archive: ArchiveStore;
  metrics: Metrics;
  logger: Logger;
  /** Unacknowledged copies in flight per device (config deliveryWindow). */
  window: number;
  timing?: DeliveryTiming;
}

export interface Delivery {
  registry: PresenceRegistry;
  hub: DeliveryHub;
  scheduler: DeliveryScheduler;
  pending: PendingSampler;
  /** After a commit: the recipient's available devices get it now, the others at their next presence. */
  stored(recipient: string, devices: readonly number[]): Promise<void>;
  /** A device's receipt, from its stamped full JID. */
  receipt(r: { jid: string; resource: string; sender: string; messageId: string }): Promise<ReceiptOutcome>;
  /** Several receipts from one stamped full JID (one stanza): recorded in one archive transaction. */
  receipts(r: { jid: string; resource: string; receipts: readonly { sender: string; messageId: string }[] }): Promise<ReceiptOutcome[]>;
  /** A verified device announcement (`moved`: it was at another resource) or its unavailable. */
  available(jid: string, device: number, moved: boolean): Promise<void>;
  unavailable(jid: string, device: number): void;
  /**
   * Shard `shard` starts here (issue 15): delivery is asked for each of its users' devices that
   * is online, wherever its presence arrived (a new owner after a takeover or move). Returns how many.
   */
  resume(shard: number): Promise<number>;
  /** The deliver job's processor, sending through `transport`. */
  processor(transport: DeliveryTransport): (job: Job<DeliverJobData, DeliverJobResult, DeliverJobName>) => Promise<DeliverJobResult>;
  /** Running jobs end at once (their copies stay pending); gauges stop. Idempotent. */
  close(): void;
}

export function createDelivery(o: DeliveryOptions): Delivery {
  const registry = createPresenceRegistry(o.redis, o.prefix);
  const hub = new DeliveryHub();
  const scheduler = createDeliveryScheduler({ redis: o.redis, prefix: o.prefix, queues: o.queues, logger: o.logger });
  const online = createOnlineDevices({ redis: o.redis, prefix: o.prefix, queues: o.queues, maxAgeMs: DEFAULT_PRESENCE_TTL_SECONDS * 1000 });
  const pending = createPendingSampler({ archive: o.archive, metrics: o.metrics, logger: o.logger });
  pending.seed();
  const log = o.logger.child({ module: 'deliver' });
  return {
    registry,
    hub,
    scheduler,
    pending,
    async stored(recipient, devices) {
      pending.touch(recipient);
      try {
        for (const device of devices)
          if ((await registry.resourceOf(recipient, device)) !== undefined) await scheduler.request(recipient, device);
      } catch (err) {
        log.warn({ error: (err as Error).message }, 'cannot start delivery; it waits for the next presence');
      }
    },
    receipt: (r) =>
      handleReceipt(r, { archive: o.archive, registry, hub, logger: log, metrics: o.metrics, onDelivered: (jid) => pending.touch(jid) }),
    receipts: (r) =>
      handleReceipts(r, { archive: o.archive, registry, hub, logger: log, metrics: o.metrics, onDelivered: (jid) => pending.touch(jid) }),
    async available(jid, device, moved) {
      // Every verified announcement kicks a running job, not only a move: the SDK announces when its
      // session starts (or the vault's reappears), and copies in flight to an earlier session at the
      // same resource may be lost (a server crash sends no unavailable); they go again at once
      // instead of after the receipt timeout. Duplicates are dropped by the recipient's SDK.
      void moved;
      hub.kick(jid, device);
      await online.add(jid, device);
      await scheduler.request(jid, device);
    },
    unavailable(jid, device) {
      hub.gone(jid, device);
      online.remove(jid, device).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'online device not removed; dropped when its shard next starts'));
    },
    async resume(shard) {
      let n = 0;
      for (const { jid, device } of await online.list(shard)) {
        if ((await registry.resourceOf(jid, device)) === undefined) {
          await online.remove(jid, device);
          continue;
        }
        // A job of the old owner may still hold the running mark: the request is then marked
        // wanted, and that job hands it over when it stops (scheduler.release).
        await scheduler.request(jid, device);
        n++;
      }
      return n;
    },
    processor: (transport) => (job) =>
      processDeliver(job.data, { archive: o.archive, registry, scheduler, hub, transport, window: o.window, logger: log.child({ jobId: job.id, attempt: job.attemptsMade }), metrics: o.metrics, ...o.timing }),
    close() {
      hub.shutdown();
      pending.stop();
    },
  };
}
