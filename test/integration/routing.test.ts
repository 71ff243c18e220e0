// Per-user IQs forwarded by a stateless ingest to the shard's owner over Redis (issue 15): a
// second vault connection that holds no data forwards MAM queries, archive preferences and key
// directory requests; the owner runs the real handlers on the service's archive and directory.
// Answers (MAM result messages included) are the ones the service gives directly; a request for a
// shard nobody owns waits a bounded time for an owner, then fails with a wait-type error; a forged request (bad MAC) is dropped.
// Prints the routing overhead (p50/p99 of sequential IQs, direct vs forwarded).
import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { registerDirectory } from '../../src/directory/index.js';
import { iqOwner, registerForwarding, registerMam } from '../../src/ingest/index.js';
import { initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { NS } from '../../src/protocol/index.js';
import { shardOf } from '../../src/shards/index.js';
import { createRedis, createRequestBus, redisReady, requestChannel } from '../../src/workers/index.js';
import { connectXmpp, StanzaError, xml, type Element, type XmppConnection } from '../../src/xmpp/index.js';
import { connect, services } from './helpers.js';
import { startAgent, startTestService, type TestService } from './service-fixture.js';

await initSodium();
const SHARDS = 4;
const OWNER_WAIT_MS = 1_500;
const MAC = new Uint8Array(32).fill(3);

async function routedSetup(ts: TestService) {
  const { xmpp, redisUrl } = services();
  const logger = silentLogger();
  const prefix = ts.env.SEALPOST_QUEUE_PREFIX as string;
  const conns = [createRedis(redisUrl, 'producer'), createRedis(redisUrl, 'worker'), createRedis(redisUrl, 'worker')];
  for (const c of conns) await redisReady(c);
  const [publisher, ingestSub, ownerSub] = conns as [ReturnType<typeof createRedis>, ReturnType<typeof createRedis>, ReturnType<typeof createRedis>];
  const ingestBus = createRequestBus({ publisher, subscriber: ingestSub, prefix, node: 'ingest-1', macKey: MAC, logger, defaultTimeoutMs: 5_000 });
  const ownerBus = createRequestBus({ publisher, subscriber: ownerSub, prefix, node: 'owner-1', macKey: MAC, logger });
  // The owner: the service's own stores, the real handlers, on a stand-in connection.
  const owner = iqOwner(ts.service.conn);
  const redisNameKey = new Uint8Array(32).fill(7);
  const mamRate = { mamRatePerMinute: 60_000, mamBurst: 1000, redis: publisher, prefix: `${prefix}:owner`, redisNameKey };
  registerMam({ conn: owner.conn, archive: ts.service.archive, limits: ts.service.archive.limits, globalRetentionSeconds: 0, ...mamRate, logger });
  registerDirectory({
    conn: owner.conn,
    store: ts.service.directory,
    redis: publisher,
    prefix: `${prefix}:owner`,
    redisNameKey,
    claimBurst: 1000,
    claimRatePerMinute: 60_000,
    claimTargetBurst: 1000,
    claimTargetRatePerMinute: 60_000,
    lookupBurst: 1000,
    lookupRatePerMinute: 60_000,
    maxOneTimePrekeys: 100,
    prekeyLowWater: 25,
    maxDevices: 32,
    maxStanzaBytes: 262_144,
    logger,
  });
  const stops = await Promise.all(Array.from({ length: SHARDS }, (_, k) => ownerBus.serve(k, (p) => owner.answer(p))));
  // The ingest: the vault account on another resource, no stores at all.
  const ingress = await connectXmpp({ service: xmpp.service, domain: xmpp.domain, username: ts.vault.username, password: ts.vault.password, resource: `ingest-${randomUUID().slice(0, 6)}` });
  registerForwarding({ conn: ingress, bus: ingestBus, shardOf: (j) => shardOf(j, SHARDS), logger, ownerWaitMs: OWNER_WAIT_MS });
  onTestFinished(async () => {
    await ingress.stop();
    await ingestBus.close();
    await ownerBus.close();
    await publisher.quit();
  });
  return { ingress, stops, publisher, prefix };
}

/** Sends `iq` to `to` and returns the MAM result messages (from attribute dropped) and the answer. */
async function ask(conn: XmppConnection, to: string, child: Element, type: 'get' | 'set'): Promise<{ messages: string[]; answer: string }> {
  const messages: string[] = [];
  const off = conn.on('stanza', (s) => {
    if (s.name === 'message' && s.getChild('result', NS.mam) !== undefined) {
      const { from: _from, ...attrs } = s.attrs as Record<string, string>;
      messages.push(xml('message', attrs, ...s.children.filter((c): c is Element => typeof c !== 'string')).toString());
    }
  });
  try {
    try {
      const reply = await conn.sendReceive(xml('iq', { type, to }, child));
      return { messages, answer: reply.children.filter((c): c is Element => typeof c !== 'string').map((c) => c.toString()).join('') };
    } catch (err) {
      if (!(err instanceof StanzaError)) throw err;
      return { messages, answer: `error ${err.type ?? ''} ${err.condition}: ${err.text ?? ''}` };
    }
  } finally {
    off();
  }
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

describe('routing per-user IQs to the shard owner', () => {
  it('gives the answers the service gives directly: history pages, preferences, key directory; errors alike', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    for (let i = 0; i < 12; i++) await alice.agent.send(bob.account.jid, `m${i}`); // each resolves once stored
    const { ingress } = await routedSetup(ts);
    const raw = await connect(bob.account, 'raw');
    const direct = ts.service.conn.jid;
    const routed = ingress.jid;

    const mamQuery = (id: string, max: number, after?: string) =>
      xml('query', { xmlns: NS.mam, queryid: id }, xml('set', { xmlns: NS.rsm }, xml('max', {}, String(max)), ...(after === undefined ? [] : [xml('after', {}, after)])));
    const d1 = await ask(raw, direct, mamQuery('q1', 5), 'set');
    const r1 = await ask(raw, routed, mamQuery('q1', 5), 'set');
    expect(d1.messages).toHaveLength(5);
    expect(r1).toEqual(d1);
    const last = /<last>([^<]+)<\/last>/.exec(d1.answer)?.[1] as string;
    expect(await ask(raw, routed, mamQuery('q2', 50, last), 'set')).toEqual(await ask(raw, direct, mamQuery('q2', 50, last), 'set'));

    const devices = xml('devices', { xmlns: NS.keys, jid: alice.account.jid });
    expect(await ask(raw, routed, devices, 'get')).toEqual(await ask(raw, direct, devices, 'get'));
    const count = xml('count', { xmlns: NS.keys, device: String(bob.agent.device) });
    expect(await ask(raw, routed, count, 'get')).toEqual(await ask(raw, direct, count, 'get'));
    // A write through the owner is seen directly: retention preference set routed, read direct.
    const setPref = await ask(raw, routed, xml('retention', { xmlns: 'urn:sealpost:archive:1', jid: bob.account.jid, expire: '86400' }), 'set');
    expect(setPref.answer).not.toMatch(/error/);
    const getPref = xml('retention', { xmlns: 'urn:sealpost:archive:1', jid: bob.account.jid });
    expect((await ask(raw, direct, getPref, 'get')).answer).toMatch(/86400/);
    // A claim goes to the target's owner and hands out one prekey like the direct path.
    const fetch = (await ask(raw, routed, xml('fetch', { xmlns: NS.keys, jid: alice.account.jid }), 'set')).answer;
    expect(fetch).toMatch(/<bundles[^>]*server-key=/);
    // Bad input: the same error either way.
    const bad = xml('fetch', { xmlns: NS.keys, jid: 'not a jid@@' });
    const badRouted = await ask(raw, routed, bad, 'set');
    expect(badRouted.answer).toMatch(/bad-request/);
    expect(badRouted).toEqual(await ask(raw, direct, bad, 'set'));
  });

  it('waits a bounded time, then fails with a wait-type error when the shard has no owner; drops a forged request; measures the overhead', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    const { ingress, stops, publisher, prefix } = await routedSetup(ts);
    const raw = await connect(bob.account, 'raw');
    const count = xml('count', { xmlns: NS.keys, device: String(bob.agent.device) });

    const times = { direct: [] as number[], routed: [] as number[] };
    for (let i = 0; i < 200; i++) {
      for (const [kind, to] of [['direct', ts.service.conn.jid], ['routed', ingress.jid]] as const) {
        const t0 = performance.now();
        await raw.sendReceive(xml('iq', { type: 'get', to }, count));
        times[kind].push(performance.now() - t0);
      }
    }
    const row = (k: 'direct' | 'routed') => `${k} p50 ${pct(times[k], 50).toFixed(2)} ms p99 ${pct(times[k], 99).toFixed(2)} ms`;
    process.stderr.write(`[routing] 200 sequential count IQs: ${row('direct')}; ${row('routed')}; overhead p50 ${(pct(times.routed, 50) - pct(times.direct, 50)).toFixed(2)} ms\n`);

    // A forged request (no MAC key) is dropped: nothing answers it, nothing is written.
    const before = ts.service.directory.count(bob.account.jid, bob.agent.device);
    const forged = JSON.stringify({ id: 'x', reply: `${prefix}:replies:evil`, body: { iq: '<iq type="set"><remove xmlns="urn:sealpost:keys:1" device="1"/></iq>', from: bob.account.jid } });
    await publisher.publish(requestChannel(prefix, shardOf(bob.account.jid, SHARDS)), `${Buffer.alloc(32).toString('base64')} ${forged}`);
    await new Promise((r) => setTimeout(r, 200));
    expect(ts.service.directory.count(bob.account.jid, bob.agent.device)).toBe(before);

    // The owner lets go of bob's shard: his next request waits for an owner for OWNER_WAIT_MS (a
    // takeover's new owner would answer it), then fails wait-type, and nothing hangs.
    await stops[shardOf(bob.account.jid, SHARDS)]?.();
    const t0 = Date.now();
    const err = await raw.sendReceive(xml('iq', { type: 'get', to: ingress.jid }, count)).catch((e: unknown) => e as { condition?: string; type?: string });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(OWNER_WAIT_MS - 300);
    expect(Date.now() - t0).toBeLessThan(OWNER_WAIT_MS + 2_000);
    expect(err).toMatchObject({ condition: 'service-unavailable', type: 'wait' });
  });
});
