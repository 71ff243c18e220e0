// The service on a real 3-master Redis Cluster (issue 15): every queue and key of ours carries a
// hash tag, so BullMQ's multi-key scripts and ours run; messages sent while the recipient is
// offline are stored, delivered once in order when it comes online, and its history comes back
// through the vault; the keys spread over more than one master.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { startRedisCluster, type RedisClusterHandle } from '../../src/localdev/index.js';
import { createRedis, redisReady } from '../../src/workers/index.js';
import { startAgent, startTestService } from './service-fixture.js';

let cluster: RedisClusterHandle;

describe('Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('stores, delivers and returns history through a service on a 3-master cluster', async () => {
    const ts = await startTestService({ REDIS_URL: cluster.urls[0] as string, SEALPOST_REDIS_CLUSTER: 'true', SEALPOST_SHARD_COUNT: '8' });
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await alice.agent.send(bob.account.jid, `m${i}`)).messageId);

    const seen: ReceivedMessage[] = [];
    const back = await bob.reopen({
      onMessage: (m) => {
        seen.push(m);
        return Promise.resolve();
      },
    });
    await expect.poll(() => seen.length, { timeout: 30_000 }).toBe(40);
    expect(seen.map((m) => m.messageId)).toEqual(ids);
    const history: string[] = [];
    for await (const h of back.history({ with: alice.account.jid })) if (h.ok) history.push(h.messageId);
    expect(history).toEqual(ids);

    // Keys live on more than one master: the queues' hash tags spread them.
    const perNode = await Promise.all(
      cluster.urls.map(async (url) => {
        const r = createRedis(url, 'producer');
        await redisReady(r);
        const n = (await r.keys(`${ts.env.SEALPOST_QUEUE_PREFIX}:*`)).length;
        await r.quit();
        return n;
      }),
    );
    expect(perNode.filter((n) => n > 0).length).toBeGreaterThan(1);
  });
});
