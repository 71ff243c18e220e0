// Worker nodes (issue 15): `sealpost ingest` in this process and two `sealpost worker` processes,
// each on its own data root, one Redis. Each user lives on the node that owns its shard: messages
// are stored and delivered there, and history paged through the vault comes from there, for a
// user on either node; when a node is killed (kill -9) a node that reaches its data root takes its
// shards over after the lease and serves those users, with nothing lost.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { configSlices, loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/index.js';
import { openStores } from '../../src/stores/index.js';
import { presentShards, redisLeaseStore, shardOf } from '../../src/shards/index.js';
import { createRedis, redisReady } from '../../src/workers/index.js';
import { roleProcess, waitUntil } from './fault-fixture.js';
import { services } from './helpers.js';
import { startAgent, startTestService, type TestAgent, type TestService } from './service-fixture.js';

const COUNT = 8;

async function cluster(): Promise<{ ts: TestService; roots: string[]; nodes: ReturnType<typeof roleProcess>[]; holderOf: (jid: string) => Promise<string | undefined> }> {
  const ts = await startTestService({ SEALPOST_SHARD_COUNT: String(COUNT), SEALPOST_LEASE_SECONDS: '2' }, { roles: ['ingest'] });
  const roots = ['a', 'b'].map((n) => mkdtempSync(join(tmpdir(), `sealpost-node-${n}-`)));
  onTestFinished(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  // Node b reaches a's root too (a volume it can mount): it takes a's shards when a dies.
  const nodes = [
    roleProcess('worker', { ...ts.env, SEALPOST_DATA_DIR: roots[0] as string }, roots[0] as string),
    roleProcess('worker', { ...ts.env, SEALPOST_DATA_DIR: roots[1] as string, SEALPOST_SHARD_ROOTS: `${roots[1]},${roots[0]}` }, roots[1] as string),
  ];
  await Promise.all(nodes.map((n) => n.start()));
  const redis = createRedis(services().redisUrl, 'producer');
  await redisReady(redis);
  onTestFinished(() => void redis.quit());
  const leases = redisLeaseStore(redis, ts.env.SEALPOST_QUEUE_PREFIX as string);
  const holders = async (): Promise<(string | undefined)[]> => Promise.all(Array.from({ length: COUNT }, async (_, k) => (await leases.holder(k))?.node));
  await waitUntil('every shard owned', async () => (await holders()).every((h) => h !== undefined), 30_000);
  return { ts, roots, nodes, holderOf: async (jid) => (await leases.holder(shardOf(jid, COUNT)))?.node };
}

/** Agents until there is one on each of the two nodes; returns [on a node, on the other]. */
async function recipientsOnBothNodes(ts: TestService, holderOf: (jid: string) => Promise<string | undefined>): Promise<[TestAgent, TestAgent]> {
  const byNode = new Map<string, TestAgent>();
  for (let i = 0; i < 30 && byNode.size < 2; i++) {
    const a = await startAgent(ts, `bob${i}`);
    const node = await holderOf(a.account.jid);
    if (node !== undefined && !byNode.has(node)) byNode.set(node, a);
    else await a.agent.stop();
  }
  const both = [...byNode.values()];
  expect(both).toHaveLength(2);
  return both as [TestAgent, TestAgent];
}

async function sendAndReceive(alice: TestAgent, bob: TestAgent, n: number, tag: string): Promise<void> {
  await bob.agent.stop();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await alice.agent.send(bob.account.jid, `${tag}-${i}`)).messageId);
  const seen: ReceivedMessage[] = [];
  const back = await bob.reopen({
    onMessage: (m) => {
      seen.push(m);
      return Promise.resolve();
    },
  });
  await expect.poll(() => seen.map((m) => m.messageId), { timeout: 30_000 }).toEqual(ids);
  const history: string[] = [];
  for await (const h of back.history({ with: alice.account.jid, pageSize: 3 })) if (h.ok) history.push(h.messageId);
  expect(history).toEqual(ids);
}

describe('worker nodes on separate data roots', () => {
  it('stores, delivers and pages history for a user on either node; a user never splits across nodes', async () => {
    const { ts, roots, nodes, holderOf } = await cluster();
    const alice = await startAgent(ts, 'alice');
    const [b1, b2] = await recipientsOnBothNodes(ts, holderOf);
    await sendAndReceive(alice, b1, 5, 'one');
    await sendAndReceive(alice, b2, 5, 'two');
    // Each node created its own shards in its own root, and no shard is in both.
    const [inA, inB] = roots.map((r) => presentShards(join(r, 'shards'), COUNT));
    expect((inA ?? []).length + (inB ?? []).length).toBe(COUNT);
    expect((inA ?? []).filter((k) => (inB ?? []).includes(k))).toEqual([]);
    // The recipients' receipts reached the owners: nothing is left pending on either root.
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    let checked = 0;
    for (const root of roots) {
      const stores = await openStores(configSlices(loadConfig({ ...ts.env, SEALPOST_DATA_DIR: root })).stores, silentLogger(), 'borrow');
      try {
        for (const b of [b1, b2])
          if (stores.sharded.of(b.account.jid) !== undefined) {
            expect(stores.archive.pendingCounts(b.account.jid).messages).toBe(0);
            checked++;
          }
      } finally {
        stores.close();
      }
    }
    expect(checked).toBe(2);
  });

  it("takes a killed node's shards over after its lease when it reaches their root; nothing receipted is lost", async () => {
    const { ts, roots, nodes, holderOf } = await cluster();
    const idA = readFileSync(join(roots[0] as string, 'root-id'), 'utf8').trim();
    const alice = await startAgent(ts, 'alice');
    const both = await recipientsOnBothNodes(ts, holderOf);
    const holders = await Promise.all(both.map((b) => holderOf(b.account.jid)));
    const onA = both[holders.indexOf(idA)] as TestAgent;
    await onA.agent.stop();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await alice.agent.send(onA.account.jid, `pre-${i}`)).messageId);
    await nodes[0]?.kill('SIGKILL');
    await waitUntil('the shard taken over by node b', async () => {
      const h = await holderOf(onA.account.jid);
      return h !== undefined && h !== idA;
    }, 30_000);
    for (let i = 0; i < 3; i++) ids.push((await alice.agent.send(onA.account.jid, `post-${i}`)).messageId);
    const seen: ReceivedMessage[] = [];
    const back = await onA.reopen({
      onMessage: (m) => {
        seen.push(m);
        return Promise.resolve();
      },
    });
    await expect.poll(() => seen.map((m) => m.messageId), { timeout: 30_000 }).toEqual(ids);
    const history: string[] = [];
    for await (const h of back.history({ with: alice.account.jid, pageSize: 4 })) if (h.ok) history.push(h.messageId);
    expect(history).toEqual(ids);
  });
});
