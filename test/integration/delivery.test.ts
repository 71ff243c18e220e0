// Delivery on presence against real Prosody and Redis (issue "Delivery when the recipient's
// presence comes online"): everything waiting reaches the device in order, each message once at
// the application, only the device's receipt marks its copy delivered, each device gets only its
// own key block, forged device announcements are ignored, and a failing handler means redelivery.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Agent, ReceivedMessage } from '../../src/agent/index.js';
import {
  AgentKeyFile,
  createDeviceIdentity,
  initSodium,
  parseFingerprint,
  signAnnouncement,
  toBase64,
  type AnnouncementWire,
} from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { announcementToXml } from '../../src/protocol/delivery.js';
import { createRedis, presenceKey } from '../../src/workers/index.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { connect, services } from './helpers.js';
import { startAgent, startTestService, type TestAgent, type TestService } from './service-fixture.js';

await initSodium();

/** Collects what an application handler sees; `reached(n)` resolves once n messages arrived. */
function collector(onEach?: (m: ReceivedMessage, seen: ReceivedMessage[]) => void | Promise<void>) {
  const seen: ReceivedMessage[] = [];
  const waits: { n: number; resolve: () => void }[] = [];
  const handler = async (m: ReceivedMessage): Promise<void> => {
    await onEach?.(m, seen);
    seen.push(m);
    for (const w of waits.filter((x) => seen.length >= x.n)) w.resolve();
  };
  const reached = (n: number, timeoutMs = 30_000): Promise<void> =>
    seen.length >= n
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of ${n} messages in ${timeoutMs} ms`)), timeoutMs);
          waits.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
        });
  return { seen, handler, reached };
}

/**
 * Sends `${label}0..n-1`. One by one (each after the previous receipt) the order is Alice's beyond
 * doubt; streamed (no waiting), the order that counts is the one the vault stored them in.
 */
async function sendMany(from: Agent, to: string, n: number, options: { stream?: boolean } = {}): Promise<string[]> {
  if (options.stream !== true) {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await from.send(to, `m${i}`)).messageId);
    return ids;
  }
  const first = await from.send(to, 'm0'); // claims the bundles; the rest reuse them
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => from.send(to, `m${i + 1}`)));
  return [first.messageId, ...rest.map((r) => r.messageId)];
}

/** The device's pending copies in the vault's order (arrival seq). */
const storedOrder = (ts: TestService, jid: string, device: number): string[] =>
  ts.service.archive.pendingFor(jid, device, { limit: 1000 }).map((p) => p.messageId);

/** Records every delivery stanza the vault sends (to, key blocks' devices). */
function tapDeliveries(ts: TestService): { to: string; devices: string[]; id: string }[] {
  const out: { to: string; devices: string[]; id: string }[] = [];
  const conn = ts.service.conn as { send(stanza: Element): Promise<void> };
  const send = conn.send.bind(conn);
  conn.send = (stanza: Element) => {
    // A delivery carries one copy, or (a batch, issue 9) several copies in <item/>s.
    const items = stanza.is('message') ? [stanza, ...stanza.getChildren('item', NS.sealed)] : [];
    for (const sealed of items.map((i) => i.getChild('sealed', NS.sealed)))
      if (sealed !== undefined)
        out.push({ to: String(stanza.attrs.to), devices: sealed.getChildren('key').map((k) => String(k.attrs.device)), id: String(sealed.attrs.id) });
    return send(stanza);
  };
  return out;
}

const pendingOf = (ts: TestService, jid: string): number => ts.service.archive.pendingCounts(jid).messages;

/** A second device of `bob`'s account: same account, a key file of its own. */
function secondDevice(bob: TestAgent): (onMessage: (m: ReceivedMessage) => Promise<void>) => Promise<Agent> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-agent2-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return (onMessage) => bob.reopen({ dir, onMessage });
}

describe('delivery on presence', () => {
  it('delivers 500 messages sent while Bob was offline: each once, in order, verified as from Alice', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    const t0 = Date.now();
    const ids = await sendMany(alice.agent, bob.account.jid, 500);
    const sentMs = Date.now() - t0;
    expect(pendingOf(ts, bob.account.jid)).toBe(500);
    expect(storedOrder(ts, bob.account.jid, bob.agent.device)).toEqual(ids);

    // Online without a handler: the device does not ask for delivery, everything keeps waiting.
    const back = await bob.reopen();
    await new Promise((r) => setTimeout(r, 300));
    expect(pendingOf(ts, bob.account.jid)).toBe(500);
    expect(await ts.service.delivery.registry.resourceOf(bob.account.jid, back.device)).toBeUndefined();

    const app = collector();
    const t1 = Date.now();
    back.onMessage(app.handler);
    await app.reached(500);
    const drainMs = Date.now() - t1;
    await expect.poll(() => pendingOf(ts, bob.account.jid), { timeout: 10_000 }).toBe(0);
    const ackedMs = Date.now() - t1;
    process.stderr.write(`[delivery] 500 stored in ${sentMs} ms; app saw 500 in ${drainMs} ms; all acknowledged in ${ackedMs} ms\n`);

    expect(app.seen.map((m) => m.text())).toEqual(Array.from({ length: 500 }, (_, i) => `m${i}`));
    expect(app.seen.map((m) => m.messageId)).toEqual(ids);
    for (const m of app.seen) {
      expect(m.from).toBe(alice.account.jid);
      expect(m.device).toBe(alice.agent.device);
      expect(m.fingerprint).toBe(alice.agent.fingerprint);
      expect(m.contentType).toBe('text/plain; charset=utf-8');
      expect(m.storedAt).toBeTypeOf('number');
    }
    expect(app.seen[0]?.trust).toBe('new');
    expect(app.seen.slice(1).every((m) => m.trust === 'tofu')).toBe(true);
    const metrics = await ts.service.metrics.registry.getSingleMetricAsString('sealpost_deliveries_total');
    expect(metrics).toMatch(/result="acked"\} 500/);
    const latency = await ts.service.metrics.registry.getSingleMetricAsString('sealpost_delivery_latency_seconds');
    expect(Number(/_count (\d+)/.exec(latency)?.[1])).toBeGreaterThan(0);
  });

  it('Bob disconnecting after 200: nothing unacknowledged is marked delivered; on reconnect the rest arrive, each once', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    const device = bob.agent.device;
    await bob.agent.stop();
    await sendMany(alice.agent, bob.account.jid, 300, { stream: true });
    const ids = storedOrder(ts, bob.account.jid, device);
    expect(ids).toHaveLength(300);

    let stopping = false;
    const first = collector(() => {
      if (stopping) throw new Error('app is shutting down'); // as a crash: never handed over
    });
    const firstAgent = await bob.reopen({ onMessage: first.handler });
    await first.reached(200);
    stopping = true;
    await firstAgent.stop();
    const seenFirst = new Set(first.seen.map((m) => m.messageId));
    expect(seenFirst.size).toBe(first.seen.length);

    // Only what the application took can have been marked delivered.
    const delivered = (): string[] =>
      ids.filter((id) => ts.service.archive.deliveryState(bob.account.jid, alice.account.jid, id)?.[0]?.deliveredAt != null);
    await new Promise((r) => setTimeout(r, 500)); // late receipts, if any, land now
    const early = delivered();
    expect(early.length).toBeGreaterThan(0);
    for (const id of early) expect(seenFirst.has(id)).toBe(true);
    expect(pendingOf(ts, bob.account.jid)).toBe(300 - early.length);

    const second = collector();
    await bob.reopen({ onMessage: second.handler });
    await second.reached(300 - seenFirst.size);
    await expect.poll(() => pendingOf(ts, bob.account.jid), { timeout: 10_000 }).toBe(0);
    const all = [...first.seen, ...second.seen].map((m) => m.messageId);
    expect(new Set(all).size).toBe(all.length); // the application saw each once
    expect(all.sort()).toEqual([...ids].sort());
    expect(second.seen.map((m) => m.messageId)).toEqual(ids.filter((id) => !seenFirst.has(id))); // in order
    const redelivered = await ts.service.metrics.registry.getSingleMetricAsString('sealpost_redeliveries_total');
    expect(Number(/ (\d+)$/m.exec(redelivered)?.[1])).toBeGreaterThan(0);
  });

  it('gives each of two devices its own copy and key block; one offline keeps its copies while the other drains', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const appA = collector();
    const bob = await startAgent(ts, 'bob', { onMessage: appA.handler });
    const openB = secondDevice(bob);
    const appB = collector();
    const deviceB = await openB(appB.handler);
    const [a, b] = [bob.agent.device, deviceB.device];
    expect(a).not.toBe(b);
    await deviceB.stop();
    const tap = tapDeliveries(ts);

    const ids = await sendMany(alice.agent, bob.account.jid, 20);
    await appA.reached(20);
    await expect.poll(() => ts.service.archive.pendingFor(bob.account.jid, a, { limit: 100 }).length).toBe(0);
    // B is offline: every copy of its own still waits, and the messages count as pending.
    expect(ts.service.archive.pendingFor(bob.account.jid, b, { limit: 100 }).map((p) => p.messageId)).toEqual(ids);
    expect(pendingOf(ts, bob.account.jid)).toBe(20);
    for (const id of ids) {
      const state = ts.service.archive.deliveryState(bob.account.jid, alice.account.jid, id) ?? [];
      expect(state.find((x) => x.deviceId === a)?.deliveredAt).toBeTypeOf('number');
      expect(state.find((x) => x.deviceId === b)?.deliveredAt).toBeNull();
    }

    await openB(appB.handler);
    await appB.reached(20);
    await expect.poll(() => pendingOf(ts, bob.account.jid), { timeout: 10_000 }).toBe(0);
    expect(appA.seen.map((m) => m.text())).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(appB.seen.map((m) => m.text())).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    // On the wire: each delivery went to one device's resource with that device's key block only.
    expect(tap.length).toBeGreaterThanOrEqual(40);
    for (const d of tap) {
      const device = d.to.endsWith(`/sealpost-${a}`) ? a : d.to.endsWith(`/sealpost-${b}`) ? b : undefined;
      expect(device).toBeDefined();
      expect(d.devices).toEqual([String(device)]);
    }
    expect(new Set(tap.filter((d) => d.to.endsWith(`/sealpost-${b}`)).map((d) => d.id))).toEqual(new Set(ids));
  });

  it('ignores forged device announcements: wrong signature, foreign key, another resource, stale', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    const device = bob.agent.device;
    const fp = toBase64(parseFingerprint(bob.agent.fingerprint));
    await bob.agent.stop();
    await sendMany(alice.agent, bob.account.jid, 3);
    // Bob's real identity key, as only his device holds it (for the controls below).
    const secret = bob.options.secret;
    if (!('key' in secret)) throw new Error('test agents use raw keys');
    const keyFile = await AgentKeyFile.open(join(bob.dir, 'keys.sealpost'), { key: new Uint8Array(secret.key) });
    const identity = keyFile.state.identity;

    // Mallory knows Bob's password but not his identity key.
    const evil = await connect(bob.account, 'evil');
    const got: Element[] = [];
    evil.on('stanza', (s) => {
      if (s.getChild('sealed', NS.sealed) !== undefined) got.push(s);
    });
    const announce = async (a: AnnouncementWire): Promise<void> => {
      await evil.send(xml('presence', { to: ts.vault.jid }, announcementToXml(a)));
      await new Promise((r) => setTimeout(r, 700));
    };
    const stranger = createDeviceIdentity(bob.account.jid, device);
    const forgeries: AnnouncementWire[] = [
      { device, fp, ts: Date.now(), sig: toBase64(new Uint8Array(64).fill(7)) }, // wrong signature
      signAnnouncement(stranger, 'evil', Date.now()), // signed, by a key the directory does not hold
      signAnnouncement(identity, 'sealpost-other', Date.now()), // Bob's, but for another session
      signAnnouncement(identity, 'evil', Date.now() - 3600_000), // Bob's, an hour old
    ];
    for (const forged of forgeries) await announce(forged);
    expect(got).toHaveLength(0);
    expect(await ts.service.delivery.registry.deviceAt(bob.account.jid, 'evil')).toBeUndefined();
    expect(await ts.service.delivery.registry.resourceOf(bob.account.jid, device)).toBeUndefined();
    expect(pendingOf(ts, bob.account.jid)).toBe(3);

    // Control: the same session with a genuine announcement does get the copies.
    await announce(signAnnouncement(identity, 'evil', Date.now()));
    keyFile.close();
    await expect.poll(() => got.length, { timeout: 5000 }).toBe(3);
    expect(await ts.service.delivery.registry.deviceAt(bob.account.jid, 'evil')).toBe(device);
  });

  it('a handler that throws: no receipt, the message comes again and is then handed over once', async () => {
    const ts = await startTestService({}, { delivery: { ackTimeoutMs: 1000, pollMs: 200 } });
    const alice = await startAgent(ts, 'alice');
    let failures = 0;
    let pendingAtRetry: (number | null | undefined)[] = [];
    const app = collector((m) => {
      if (m.text() !== 'm1') return;
      if (failures === 0) {
        failures++;
        throw new Error('application not ready');
      }
      // Second attempt: the failed one was never acknowledged.
      pendingAtRetry = [ts.service.archive.deliveryState(bob.account.jid, alice.account.jid, m.messageId)?.[0]?.deliveredAt];
    });
    const bob = await startAgent(ts, 'bob', { onMessage: app.handler });
    await sendMany(alice.agent, bob.account.jid, 3);
    await app.reached(3, 15_000);
    await expect.poll(() => pendingOf(ts, bob.account.jid), { timeout: 10_000 }).toBe(0);
    expect(failures).toBe(1);
    expect(pendingAtRetry).toEqual([null]);
    expect(app.seen.map((m) => m.text()).sort()).toEqual(['m0', 'm1', 'm2']);
    const redelivered = await ts.service.metrics.registry.getSingleMetricAsString('sealpost_redeliveries_total');
    expect(Number(/ (\d+)$/m.exec(redelivered)?.[1])).toBeGreaterThan(0);
  });

  it('forgets a device whose session ended while the vault was down (the server answers its probe)', async () => {
    const ts = await startTestService();
    const app = collector();
    const bob = await startAgent(ts, 'bob', { onMessage: app.handler });
    const device = bob.agent.device;
    await expect.poll(() => ts.service.delivery.registry.resourceOf(bob.account.jid, device)).toBe(`sealpost-${device}`);
    await ts.stop();
    await bob.agent.stop(); // its unavailable presence reaches nobody
    const redis = createRedis(services().redisUrl, 'worker');
    onTestFinished(() => redis.quit().then(() => undefined));
    expect(await redis.hget(presenceKey(ts.config.queuePrefix, bob.account.jid), `d:${device}`)).toBe(`sealpost-${device}`);
    const again = await ts.restart();
    await expect.poll(() => again.service.delivery.registry.resourceOf(bob.account.jid, device), { timeout: 5000 }).toBeUndefined();
  });
});
