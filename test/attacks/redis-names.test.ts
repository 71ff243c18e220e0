// Issue 14, attack 6 (rest): rate-limit bucket names in Redis were hashes of the JIDs in them, but
// unkeyed: someone with Redis access (a backup, a shared instance, a leaked password) hashed a
// guessed JID the same way and found its key, confirming that the JID uses the vault, whom it
// looks up and whose prekeys it claims. The names are now keyed with a key every process of the
// deployment derives from the master key: the same name in every process and after a restart.
import { describe, expect, it } from 'vitest';
import { configSlices } from '../../src/config/index.js';
import { blake2b } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { bucketName } from '../../src/ratelimit/index.js';
import { deploymentKeys } from '../../src/stores/index.js';
import { createRedis } from '../../src/workers/index.js';
import { services } from '../integration/helpers.js';
import { startAgent, startTestService } from '../integration/service-fixture.js';
import { attacker, honestExchange } from './attacker.js';

/** What the attacker computes for a guess: the bucket name without a key. */
const unkeyed = (key: string): string =>
  Buffer.from(blake2b(16, new TextEncoder().encode(`sealpost/v1/rate-bucket\u0000${key}`))).toString('hex');

describe('attack: confirming a guessed JID from Redis key names', () => {
  it('finds no bucket under the unkeyed hash of a guessed JID; names are stable across processes and restarts', async () => {
    let ts = await startTestService();
    const mallory = await attacker(ts);
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await mallory.fetch(bob.account.jid);
    await alice.agent.send(bob.account.jid, 'hello');
    const prefix = ts.config.queuePrefix;
    const redis = createRedis(services().redisUrl, 'worker');
    try {
      const buckets = async (kind: string): Promise<string[]> => (await redis.keys(`${prefix}:rl:${kind}:*`)).map((k) => k.slice(`${prefix}:rl:${kind}:`.length)).sort();
      const submit = await buckets('submit');
      const lookup = await buckets('lookup');
      expect(submit.length).toBeGreaterThan(0);
      expect(lookup.length).toBeGreaterThan(0);
      // The guesses: every account involved, and one that is not.
      for (const jid of [alice.account.jid, bob.account.jid, mallory.account.jid, 'nobody@localhost']) {
        expect(submit, `submissions of ${jid} confirmed by the unkeyed hash`).not.toContain(unkeyed(`submit ${jid}`));
        expect(lookup, `lookups by ${jid} confirmed by the unkeyed hash`).not.toContain(unkeyed(jid));
      }

      // Another process of the deployment (here: this test, from the service's environment) names them alike.
      const keys = await deploymentKeys(configSlices(ts.config).stores, silentLogger());
      expect(submit).toContain(bucketName(`submit ${alice.account.jid}`, keys.redisNames));
      expect(lookup).toContain(bucketName(mallory.account.jid, keys.redisNames));
      // A restarted service takes up the same buckets: Alice's limit goes on, no second bucket.
      ts = await ts.restart();
      const aliceAgain = await alice.reopen();
      await aliceAgain.send(bob.account.jid, 'hello again');
      expect(await buckets('submit')).toEqual(submit);
      await honestExchange(ts);
    } finally {
      await redis.quit();
    }
  });
});
