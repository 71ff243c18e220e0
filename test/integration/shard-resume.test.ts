// A shard's new owner delivers to devices that came online under the old one (issue 15): two
// "nodes" in one process, each with its own delivery side (hub, scheduler) and vault connection,
// run shard 0's workers over real Redis and BullMQ on one archive (the shard's directory, taken
// over). A device is online and its copies went out from node A; its receipts never reach A (they
// went to A's resource while A lost the shard). The shard moves to B, with A's job stopping after
// B started or before: B must send the pending copies again without a new presence of the device.
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ArchiveStore } from '../../src/archive/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { createDelivery, registerShardWorkers, type Delivery, type Queues, type Redis } from '../../src/workers/index.js';
import type { Element } from '../../src/xmpp/index.js';
import { fixture, incoming } from '../unit/archive/helpers.js';
import { testQueues } from './helpers.js';

const BOB = 'bob@example.org';
const DEV = 4242;
const QUOTA = { pendingMaxCount: 1000, pendingMaxBytes: 1 << 30, historyMaxCount: 1e6, historyMaxBytes: 2 ** 40, senderSharePercent: 100 };

interface Node {
  delivery: Delivery;
  /** Full JIDs this node's connection sent delivery stanzas to, in order. */
  sent: string[];
  start(): { close(): Promise<void> };
}

async function setup(): Promise<{ archive: ArchiveStore; a: Node; b: Node }> {
  const f = fixture();
  onTestFinished(() => f.cleanup());
  const archive = await f.open();
  for (let i = 0; i < 3; i++) archive.storeIncoming(BOB, incoming('alice@example.org', `m${i}`, [DEV]));
  const { prefix, producer, consumer, queues } = await testQueues();
  const node = (name: string): Node => nodeOn(name, { prefix, producer, consumer, queues, archive });
  return { archive, a: node('a'), b: node('b') };
}

function nodeOn(name: string, o: { prefix: string; producer: Redis; consumer: Redis; queues: Queues; archive: ArchiveStore }): Node {
  const logger = silentLogger();
  const metrics = createMetrics({ defaultMetrics: false });
  // A long receipt timeout: nothing is sent again by a job that keeps running.
  const delivery = createDelivery({ redis: o.producer, prefix: o.prefix, queues: o.queues.deliver, archive: o.archive, metrics, logger, window: 16, timing: { ackTimeoutMs: 60_000, pollMs: 100 } });
  onTestFinished(() => delivery.close());
  const sent: string[] = [];
  const conn = {
    bareJid: `vault@example.org`,
    send: (stanza: Element): Promise<void> => {
      sent.push(String(stanza.attrs.to));
      return Promise.resolve();
    },
  };
  const start = (): { close(): Promise<void> } => {
    const w = registerShardWorkers({
      shard: 0,
      connection: o.consumer,
      prefix: o.prefix,
      logger,
      metrics,
      conn: { ...conn, bareJid: `${conn.bareJid}/${name}` },
      quota: QUOTA,
      usage: { publish: () => undefined },
      archive: o.archive,
      directory: { devices: () => [DEV], hasArchiveKey: () => true },
      listener: delivery,
      delivery,
      mine: () => true,
      store: o.queues.store,
    });
    onTestFinished(() => w.close());
    return w;
  };
  return { delivery, sent, start };
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error(`timed out: ${what}`);
}

/** Bob's device comes online at A: registered, announced (as the presence forwarded to A). */
async function online(a: Node): Promise<void> {
  await a.delivery.registry.available(BOB, 'phone', DEV);
  await a.delivery.available(BOB, DEV, false);
}

describe("a shard's new owner and the devices already online", () => {
  it('sends the pending copies again when the old owner stopped before the new one started', async () => {
    const { a, b } = await setup();
    const wa = a.start();
    await online(a);
    await until('A sends the copies', () => a.sent.length >= 1, 10_000);
    await wa.close();
    b.start();
    await until('B sends the pending copies again', () => b.sent.length >= 1, 8_000).catch((err: Error) => {
      throw new Error(`${err.message}; A sent ${a.sent.length} stanzas, B ${b.sent.length}`);
    });
    expect(b.sent.every((to) => to === `${BOB}/phone`)).toBe(true);
  }, 30_000);

  it("sends them when the new owner started while the old owner's job still ran (a paused node waking)", async () => {
    const { a, b } = await setup();
    const wa = a.start();
    await online(a);
    await until('A sends the copies', () => a.sent.length >= 1, 10_000);
    b.start();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(b.sent).toEqual([]); // A's job still holds the device
    await wa.close();
    await until('B sends the pending copies again', () => b.sent.length >= 1, 8_000).catch((err: Error) => {
      throw new Error(`${err.message}; A sent ${a.sent.length} stanzas, B ${b.sent.length}`);
    });
    expect(b.sent.every((to) => to === `${BOB}/phone`)).toBe(true);
  }, 30_000);
});
