// Attack 2 of issue 14: key-file lockout. One-time prekey secrets claimed and never used were
// kept for ever and each low-water notice added 100 more, so an account claiming a victim's
// prekeys at the allowed rate grew its key file, one secret per claim, toward what
// decodeAgentSecrets refuses (10,000 prekeys): then the device could not open its own keys. The
// claim limits are raised here to compress days of claiming into seconds; the victim's clock moves.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentKeyFile } from '../../src/keys/index.js';
import { startAgent, startTestService, type TestAgent } from '../integration/service-fixture.js';
import { attacker, watchVaultStream } from './attacker.js';

const DAY = 86_400_000;
const HELD = 300; // the victim's bound on one-time prekey secrets held (maxHeldPrekeys)

/** The victim's key file, opened as the device opens it: its one-time prekeys and size. */
async function keyFile(t: TestAgent): Promise<{ opks: number; claimed: number; bytes: number }> {
  const path = join(t.dir, 'keys.sealpost');
  const file = await AgentKeyFile.open(path, t.options.secret);
  try {
    const opks = file.state.oneTimePrekeys;
    return { opks: opks.length, claimed: opks.filter((p) => p.claimedBy !== undefined).length, bytes: statSync(path).size };
  } finally {
    file.close();
  }
}

describe('attack: key-file lockout', () => {
  it("an account claiming a victim's prekeys without end leaves its key file bounded; claimed secrets go after the window; the victim still opens its keys and its messages", async () => {
    const limits = { SEALPOST_CLAIM_BURST: '100000', SEALPOST_CLAIM_RATE: '100000', SEALPOST_CLAIM_TARGET_BURST: '70', SEALPOST_CLAIM_TARGET_RATE: '100000' };
    const ts = await startTestService({ ...limits, SEALPOST_LOOKUP_BURST: '100000', SEALPOST_LOOKUP_RATE: '100000' });
    const stream = watchVaultStream(ts);
    let skew = 0;
    const now = (): number => Date.now() + skew;
    const bob = await startAgent(ts, 'bob', { now, maxHeldPrekeys: HELD });
    const alice = await startAgent(ts, 'alice', { now, bundleCacheMs: 0 });
    const mallory = await attacker(ts);
    const inbox: string[] = [];
    const listen = (a: TestAgent['agent']): void => a.onMessage((m) => void inbox.push(m.text()));
    listen(bob.agent);

    // Mallory claims one prekey per fetch, 1,000 times (each low-water notice had Bob publish 100 more).
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 100 }, () => mallory.fetch(bob.account.jid)));
      await new Promise((r) => setTimeout(r, 300)); // the replenish notice and Bob's publish
    }
    await alice.agent.send(bob.account.jid, 'during the claims');
    await expect.poll(() => inbox, { timeout: 20_000 }).toContain('during the claims');
    await bob.agent.stop();
    const during = await keyFile(bob);
    expect(during.opks, 'one-time prekey secrets held after 1,000 claims').toBeLessThanOrEqual(HELD);

    // Past the accepted window (30 days) and a day of grace, the claimed-but-unused secrets go.
    // (Only Bob's own clock moves: the vault checks signed announcements against its own.)
    skew = 32 * DAY;
    const later = await bob.reopen({ now, maxHeldPrekeys: HELD });
    await later.rotateSignedPrekey();
    await later.stop();
    const after = await keyFile(bob);
    expect(after.claimed, 'claimed secrets older than the window').toBe(0);
    expect(after.opks).toBeLessThanOrEqual(HELD);
    expect(after.bytes).toBeLessThan(64 * 1024);

    // Bob's device opens its keys again and honest messages keep reaching it.
    skew = 0;
    listen(await bob.reopen({ now, maxHeldPrekeys: HELD }));
    await alice.agent.send(bob.account.jid, 'afterwards');
    await expect.poll(() => inbox, { timeout: 20_000 }).toContain('afterwards');
    stream.assertUp();
  });
});
