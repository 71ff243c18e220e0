// The request bus when two processes hear one shard's channel (issue 15): a worker node woken from a
// pause past its lease still subscribes to the shard until its owner loop stops it, while the next
// owner serves it too. The stale node declines (DECLINED): it sends nothing, so the requester gets
// the owner's answer, not the stale node's answer or its fenced refusal, whichever came first.
import { onTestFinished, describe, expect, it } from 'vitest';
import { initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createRedis, createRequestBus, DECLINED, redisReady, type RequestBus } from '../../src/workers/index.js';
import { services, uniqueQueueName } from './helpers.js';

await initSodium();
const MAC = new Uint8Array(32).fill(9);

async function bus(prefix: string, node: string): Promise<RequestBus> {
  const { redisUrl } = services();
  const publisher = createRedis(redisUrl, 'producer');
  const subscriber = createRedis(redisUrl, 'worker');
  await Promise.all([redisReady(publisher), redisReady(subscriber)]);
  const b = createRequestBus({ publisher, subscriber, prefix, node, macKey: MAC, logger: silentLogger(), defaultTimeoutMs: 3_000 });
  onTestFinished(async () => {
    await b.close();
    await publisher.quit();
  });
  return b;
}

describe('request bus: a process that no longer holds the shard', () => {
  it('declines silently, so the current owner answers even when the stale process is faster', async () => {
    const prefix = uniqueQueueName();
    const [ingest, stale, owner] = await Promise.all([bus(prefix, 'ingest'), bus(prefix, 'stale'), bus(prefix, 'owner')]);
    const heard: string[] = [];
    await stale.serve(3, (p) => {
      heard.push(`stale ${String(p)}`);
      return Promise.resolve(DECLINED);
    });
    await owner.serve(3, async (p) => {
      heard.push(`owner ${String(p)}`);
      // The owner answers later than the stale process declined.
      await new Promise((resolve) => setTimeout(resolve, 150));
      return `fresh ${String(p)}`;
    });
    for (let i = 0; i < 5; i++) expect(await ingest.request(3, `q${i}`), 'the stale process answered first').toBe(`fresh q${i}`);
    expect(heard.filter((h) => h.startsWith('stale'))).toHaveLength(5);
  });

  it('times out when only a declining process hears the shard (no answer, no refusal)', async () => {
    const prefix = uniqueQueueName();
    const [ingest, stale] = await Promise.all([bus(prefix, 'ingest'), bus(prefix, 'stale')]);
    await stale.serve(1, () => Promise.resolve(DECLINED));
    await expect(ingest.request(1, 'q', 500)).rejects.toThrow(/no answer from its owner/);
  });
});
