// Attack on the node registry (issue 15): the attacker can write to the deployment's Redis (a
// leaked password, a shared instance) but holds no master key. The ingest's upload front passes
// every PUT and GET, with its Authorization header and the file's bytes, to the upload listener
// that the shard owner's registry entry names. The attacker rewrites the owner's entry, over and
// over (the node announces itself every third of its lease), so that it names a listener of
// theirs, and waits for the uploads to come. An entry without a valid MAC must be ignored: the
// attacker's listener gets nothing, and the honest file still arrives whole.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { SavedFile } from '../../src/agent/index.js';
import { registryKey } from '../../src/shards/index.js';
import { createRedis, redisReady } from '../../src/workers/index.js';
import { randomFile, sha256Of, tempDir } from '../integration/files-fixture.js';
import { services } from '../integration/helpers.js';
import { nodeCluster } from '../integration/nodes-fixture.js';
import { startAgent } from '../integration/service-fixture.js';

interface Seen {
  method: string | undefined;
  url: string | undefined;
  authorization: boolean;
}

/** The attacker's listener: it records what reaches it and says the upload went well. */
async function attackerListener(): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization !== undefined });
    req.resume();
    req.on('end', () => {
      res.writeHead(req.method === 'PUT' ? 201 : 200, { 'content-length': '0', connection: 'close' });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('attack: a forged node registry entry', () => {
  it("does not send the front's uploads to a listener the attacker wrote into Redis", async () => {
    const { ts, holderOf } = await nodeCluster();
    const prefix = ts.env.SEALPOST_QUEUE_PREFIX as string;
    const evil = await attackerListener();
    const redis = createRedis(services().redisUrl, 'producer');
    await redisReady(redis);
    onTestFinished(() => void redis.quit());

    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop(); // offline: the file waits at his shard's owner
    const owner = await holderOf(bob.account.jid);
    expect(owner).toBeDefined();

    // The attacker keeps the owner's entry naming its listener: the node's fields as they are,
    // the upload URL replaced (whatever else the entry holds is copied as it stands).
    let forging = true;
    let forged = 0;
    const forger = (async () => {
      while (forging) {
        const value = await redis.hget(registryKey(prefix), owner as string);
        if (value !== null && !value.includes(evil.url)) {
          await redis.hset(registryKey(prefix), owner as string, value.replace(/"upload":"[^"]*"/, `"upload":"${evil.url}"`));
          forged++;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const file = await randomFile(tempDir('sealpost-attack-registry-'), 1);
    const sending = alice.agent.sendFile(bob.account.jid, file.path).then(
      (sent) => ({ sent }),
      (error: unknown) => ({ error }),
    );
    // Long enough for the slot and the PUT to go through the front while the entry is forged.
    await new Promise((r) => setTimeout(r, 4_000));
    forging = false;
    await forger;
    const outcome = await sending;

    expect(forged, 'the attacker rewrote the entry').toBeGreaterThan(0);
    expect(evil.seen, "the front passed requests to the attacker's listener").toEqual([]);
    expect('sent' in outcome ? outcome.sent.sha256 : String(outcome.error)).toBe(file.sha256);

    // The honest upload is whole at the owner: Bob saves it with its SHA-256.
    const out = tempDir('sealpost-attack-registry-out-');
    const saved: SavedFile[] = [];
    await bob.reopen({
      onMessage: async (m) => {
        if (m.file() !== undefined) saved.push(await m.saveTo(join(out, 'file.bin')));
      },
    });
    await expect.poll(() => saved.length, { timeout: 60_000 }).toBe(1);
    expect(sha256Of((saved[0] as SavedFile).path)).toBe(file.sha256);
    expect(evil.seen).toEqual([]);
  }, 120_000);
});
