// Attack 0 of issue 14 (reproduced on a running vault): an account publishes 600 small device
// bundles, then fetches its own JID; the answer was larger than Prosody's stanza limit and
// Prosody closed the vault's stream. Devices per account are bounded (default 32) and a fetch
// answer never exceeds the server's stanza limit.
import { describe, expect, it } from 'vitest';
import { NS } from '../../src/protocol/namespaces.js';
import { startAgent, startTestService } from '../integration/service-fixture.js';
import { attacker, checkRefusal, expectRefusal, honestExchange, watchVaultStream } from './attacker.js';

describe('attack: device flood', () => {
  it('refuses devices past 32 per account, answers the flooder\'s own fetch within the stanza limit, and the vault stays online', async () => {
    const ts = await startTestService();
    const stream = watchVaultStream(ts);
    const mallory = await attacker(ts);

    const results: PromiseSettledResult<unknown>[] = [];
    for (let i = 0; i < 600; i += 50)
      results.push(...(await Promise.allSettled(Array.from({ length: 50 }, () => mallory.publishDevice(1)))));
    const accepted = results.filter((r) => r.status === 'fulfilled').length;

    const own = await mallory.fetch(mallory.account.jid);
    const entries = own.getChild('bundles', NS.keys)?.getChildren('entry') ?? [];
    expect(own.toString().length).toBeLessThan(256 * 1024);
    stream.assertUp();
    expect(accepted).toBe(32);
    expect(entries).toHaveLength(32);
    const refused = results.find((r) => r.status === 'rejected');
    checkRefusal(refused?.status === 'rejected' ? refused.reason : undefined, 'policy-violation', /32 devices/);

    // A further device is refused at once, one more fetch by an honest sender works, and honest
    // users' messages go through the same vault connection.
    await expectRefusal(mallory.publishDevice(1), 'policy-violation', /at most 32 devices per account/);
    const alice = await startAgent(ts, 'alice');
    expect(await alice.agent.fetchBundles(mallory.account.jid)).toHaveLength(32);
    await honestExchange(ts);
    stream.assertUp();
  });

  it('cuts a fetch answer to the configured stanza limit when the device bound alone would not keep it under', async () => {
    const ts = await startTestService({ SEALPOST_MAX_STANZA_BYTES: '16384' });
    const stream = watchVaultStream(ts);
    const mallory = await attacker(ts);
    for (let i = 0; i < 32; i += 8) await Promise.all(Array.from({ length: 8 }, () => mallory.publishDevice(1)));
    const answer = await mallory.fetch(mallory.account.jid);
    const entries = answer.getChild('bundles', NS.keys)?.getChildren('entry') ?? [];
    expect(Buffer.byteLength(answer.toString())).toBeLessThan(16384);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThan(32);
    stream.assertUp();
  });
});
