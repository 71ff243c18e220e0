// Attack 6 of issue 14: prekey drain and enumeration. Claims were limited only per (requester,
// target), so a few accounts emptied any victim's one-time prekeys at once; the `devices` IQ told
// anyone whether a JID uses the vault, without a limit; rate-limit keys put JIDs in clear Redis
// key names.
import { describe, expect, it } from 'vitest';
import { NS } from '../../src/protocol/namespaces.js';
import { createRedis } from '../../src/workers/index.js';
import { xml } from '../../src/xmpp/index.js';
import { services } from '../integration/helpers.js';
import { startAgent, startTestService } from '../integration/service-fixture.js';
import { attacker, checkRefusal, expectRefusal, honestExchange, watchVaultStream } from './attacker.js';

const claimedOpk = (answer: Awaited<ReturnType<Awaited<ReturnType<typeof attacker>>['fetch']>>): boolean =>
  (answer.getChild('bundles', NS.keys)?.getChild('entry')?.getChild('bundle', NS.keys)?.getChildren('opk').length ?? 0) > 0;

describe('attack: prekey drain and enumeration', () => {
  it('three accounts claiming a victim at their full per-pair burst leave it above its low-water mark; senders still reach it', async () => {
    const ts = await startTestService();
    const stream = watchVaultStream(ts);
    const bob = await startAgent(ts, 'bob');
    expect(await bob.agent.prekeyCount()).toBe(100);
    const gang = await Promise.all([attacker(ts, 'drain'), attacker(ts, 'drain'), attacker(ts, 'drain')]);

    const answers = await Promise.all(gang.flatMap((m) => Array.from({ length: 60 }, () => m.fetch(bob.account.jid))));
    const opks = answers.filter(claimedOpk).length;
    expect(await bob.agent.prekeyCount()).toBeGreaterThanOrEqual(25);
    expect(opks).toBeLessThanOrEqual(75);
    // Past their per-pair burst each attacker is refused outright (the bucket refills 1 a second).
    const more = await Promise.allSettled(Array.from({ length: 20 }, () => gang[0].fetch(bob.account.jid)));
    const refused = more.find((r) => r.status === 'rejected');
    checkRefusal(refused?.status === 'rejected' ? refused.reason : undefined, 'policy-violation', /too many prekey claims/);

    // An honest sender still fetches Bob's bundle (the signed prekey at worst) and reaches him.
    const alice = await startAgent(ts, 'alice');
    const got = new Promise<string>((resolve) => bob.agent.onMessage((m) => resolve(m.text())));
    await alice.agent.send(bob.account.jid, 'still reachable');
    await expect(got).resolves.toBe('still reachable');
    stream.assertUp();
  });

  it('refuses an account walking the directory for who uses the vault (devices and fetch of other JIDs) past its lookup budget; its own stay open', async () => {
    const ts = await startTestService({ SEALPOST_LOOKUP_BURST: '20', SEALPOST_LOOKUP_RATE: '60' });
    const bob = await startAgent(ts, 'bob');
    const mallory = await attacker(ts);
    await mallory.publishDevice(1);
    // Guessed JIDs, Bob's among them: each answer says whether that JID uses the vault.
    const guesses = Array.from({ length: 40 }, (_, i) => (i === 5 ? bob.account.jid : `guess-${i}@${bob.account.jid.split('@')[1]}`));
    const answers = await Promise.allSettled(guesses.map((jid) => mallory.iq('get', xml('devices', { xmlns: NS.keys, jid }))));
    expect(answers.filter((a) => a.status === 'fulfilled').length).toBeLessThanOrEqual(21);
    const refused = answers.find((a) => a.status === 'rejected' && (a.reason as { condition?: string }).condition === 'policy-violation');
    checkRefusal(refused?.status === 'rejected' ? refused.reason : undefined, 'policy-violation', /too many directory lookups/);
    await expectRefusal(mallory.fetch(`guess-x@${bob.account.jid.split('@')[1]}`), 'policy-violation', /too many directory lookups/);
    // Its own devices stay listed; an honest pair is untouched by Mallory's budget.
    const own = await mallory.iq('get', xml('devices', { xmlns: NS.keys, jid: mallory.account.jid }));
    expect(own.getChild('devices', NS.keys)?.getChildren('device')).toHaveLength(1);
    await honestExchange(ts);
  });

  it('keeps every JID out of Redis key names after claims, submissions and deliveries', async () => {
    const ts = await startTestService();
    const mallory = await attacker(ts);
    const bob = await startAgent(ts, 'bob');
    for (let i = 0; i < 3; i++) await mallory.fetch(bob.account.jid);
    await honestExchange(ts);
    const redis = createRedis(services().redisUrl, 'worker');
    try {
      const names = await redis.keys(`${ts.config.queuePrefix}:*`);
      expect(names.length).toBeGreaterThan(0);
      const leaked = names.filter((k) => /[a-z]+-[0-9a-f]{8}@|@localhost/.test(k));
      expect(leaked).toEqual([]);
    } finally {
      await redis.quit();
    }
  });
});
