// The key directory over XMPP against real Prosody and Redis (issue "Key directory over XMPP").
import { describe, expect, it } from 'vitest';
import { startAgent, startTestService } from './service-fixture.js';

describe('key directory', () => {
  it('publishes a bundle and hands out verified bundles with one claimed prekey', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    expect(await bob.agent.prekeyCount()).toBe(100);
    const fetched = await alice.agent.fetchBundles(bob.account.jid);
    expect(fetched).toHaveLength(1);
    expect(fetched[0]?.bundle.device).toBe(bob.agent.device);
    expect(fetched[0]?.bundle.oneTimePrekeys).toHaveLength(1);
    expect(fetched[0]?.trust).toBe('new');
    expect(await bob.agent.prekeyCount()).toBe(99);
  });
});
