// Shared by the worker-node tests (issue 15): `sealpost ingest` in this process and two
// `sealpost worker` processes, each on its own data root, one Redis; node b reaches node a's root
// too (a volume it can mount), so it takes a's shards when a dies.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { moveShard, redisLeaseStore, shardOf } from '../../src/shards/index.js';
import { createRedis, redisReady } from '../../src/workers/index.js';
import { roleProcess, waitUntil } from './fault-fixture.js';
import { services } from './helpers.js';
import { startAgent, startTestService, type TestAgent, type TestService } from './service-fixture.js';

export const NODE_SHARDS = 8;

export interface NodeCluster {
  ts: TestService;
  roots: string[];
  nodes: ReturnType<typeof roleProcess>[];
  holderOf: (jid: string) => Promise<string | undefined>;
}

export async function nodeCluster(): Promise<NodeCluster> {
  const ts = await startTestService({ SEALPOST_SHARD_COUNT: String(NODE_SHARDS), SEALPOST_LEASE_SECONDS: '2' }, { roles: ['ingest'] });
  const roots = ['a', 'b'].map((n) => mkdtempSync(join(tmpdir(), `sealpost-node-${n}-`)));
  onTestFinished(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  const nodes = [
    roleProcess('worker', { ...ts.env, SEALPOST_DATA_DIR: roots[0] as string }, roots[0] as string),
    roleProcess('worker', { ...ts.env, SEALPOST_DATA_DIR: roots[1] as string, SEALPOST_SHARD_ROOTS: `${roots[1]},${roots[0]}` }, roots[1] as string),
  ];
  // a first, then b: a node places the shards nobody has placed among the nodes it has seen once
  // it has run for a lease time, so a node whose start was slower (a loaded machine) may find them
  // all taken. Started in this order, only a can have taken them all, and b reaches a's root.
  await (nodes[0] as ReturnType<typeof roleProcess>).start();
  await (nodes[1] as ReturnType<typeof roleProcess>).start();
  const redis = createRedis(services().redisUrl, 'producer');
  await redisReady(redis);
  onTestFinished(() => void redis.quit());
  const leases = redisLeaseStore(redis, ts.env.SEALPOST_QUEUE_PREFIX as string);
  const holders = async (): Promise<(string | undefined)[]> => Promise.all(Array.from({ length: NODE_SHARDS }, async (_, k) => (await leases.holder(k))?.node));
  await waitUntil('every shard owned', async () => (await holders()).every((h) => h !== undefined), 30_000);
  // The tests want users on both nodes: if a holds every shard, half of them move to b (the
  // operator's `shard move`).
  const idB = readFileSync(join(roots[1] as string, 'root-id'), 'utf8').trim();
  if (!(await holders()).includes(idB)) for (let k = NODE_SHARDS / 2; k < NODE_SHARDS; k++) await moveShard({ leases, shard: k, to: idB, timeoutMs: 30_000 });
  return { ts, roots, nodes, holderOf: async (jid) => (await leases.holder(shardOf(jid, NODE_SHARDS)))?.node };
}

/** Agents until there is one on each of the two nodes; returns [on a node, on the other]. */
export async function recipientsOnBothNodes(ts: TestService, holderOf: (jid: string) => Promise<string | undefined>): Promise<[TestAgent, TestAgent]> {
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
