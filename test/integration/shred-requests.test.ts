// Shred requests over the ops bus (src/workers/shred-requests.ts) on the harness's Redis: every
// process of a deployment hears a request; it is carried out once, by a process that holds the
// user, and every listener answers with that one report; a request MAC'd with another key is
// ignored (nobody shreds).
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createOpsBus, createRedis, redisReady, requestShred, serveShredRequests, type Redis, type ShredReport } from '../../src/workers/index.js';
import { services } from './helpers.js';

const KEY = new Uint8Array(32).fill(3);
const report = (who: string): ShredReport => ({ keyErased: true, keyringCheckpointed: true, filesRemoved: who.length, devicesRemoved: 0 });

beforeAll(() => initSodium());

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function node(prefix: string, macKey: Uint8Array, owns: boolean, calls: string[], name: string) {
  const { redisUrl } = services();
  const producer: Redis = createRedis(redisUrl, 'producer');
  await redisReady(producer);
  const bus = createOpsBus({ producer, url: redisUrl, cluster: false, prefix, macKey, logger: silentLogger() });
  const stop = await serveShredRequests({
    bus,
    redis: producer,
    prefix,
    owns: () => owns,
    shred: (jid) => {
      calls.push(`${name} ${jid}`);
      return report(name);
    },
    logger: silentLogger(),
  });
  cleanup.push(async () => {
    await stop();
    await bus.close();
    await producer.quit();
  });
  return bus;
}

describe('shred requests', () => {
  it('are carried out once, by a process that holds the user, and every listener answers alike', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const calls: string[] = [];
    await node(prefix, KEY, false, calls, 'ingest');
    await node(prefix, KEY, true, calls, 'owner-a');
    await node(prefix, KEY, true, calls, 'owner-b');
    const cli = await node(prefix, KEY, false, calls, 'cli');
    for (let i = 0; i < 5; i++) {
      const r = await requestShred(cli, `user${i}@example.org`, 10_000);
      expect(r.filesRemoved).toBe('owner-a'.length);
    }
    expect(calls).toHaveLength(5);
    expect(calls.every((c) => c.startsWith('owner-'))).toBe(true);
  });

  it('ignores a request MAC-d with another key: nobody shreds, the asker times out', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const calls: string[] = [];
    await node(prefix, KEY, true, calls, 'owner');
    const stranger = await node(prefix, new Uint8Array(32).fill(9), false, calls, 'stranger');
    await expect(requestShred(stranger, 'victim@example.org', 1_500)).rejects.toThrow(/no answer|timeout|in \d+ ms/i);
    expect(calls.filter((c) => c.startsWith('owner'))).toEqual([]);
  });
});
