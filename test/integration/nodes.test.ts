// Worker nodes (issue 15): `sealpost ingest` in this process and two `sealpost worker` processes,
// each on its own data root, one Redis. Each user lives on the node that owns its shard: messages
// are stored and delivered there, and history paged through the vault comes from there, for a
// user on either node; when a node is killed (kill -9) a node that reaches its data root takes its
// shards over after the lease and serves those users, with nothing lost.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { configSlices, loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/index.js';
import { openStores } from '../../src/stores/index.js';
import { presentShards } from '../../src/shards/index.js';
import { waitUntil } from './fault-fixture.js';
import { NODE_SHARDS, nodeCluster, recipientsOnBothNodes } from './nodes-fixture.js';
import { startAgent, type TestAgent } from './service-fixture.js';

const COUNT = NODE_SHARDS;
const cluster = nodeCluster;

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
