// The key directory over XMPP against real Prosody and Redis (issue "Key directory over XMPP"):
// claims hand each one-time prekey out once, bad uploads are refused without touching what is
// stored, claims are rate-limited, and a restart keeps the directory and its server key.
import { describe, expect, it } from 'vitest';
import {
  bundleToWire,
  createAgentKeys,
  displayFingerprint,
  initSodium,
  publicBundle,
  type BundleWire,
} from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { bundleToXml } from '../../src/protocol/xml-codec.js';
import { StanzaError, xml, type Element, type XmppConnection } from '../../src/xmpp/index.js';
import { connectFreshAccount, goOnline } from './helpers.js';
import { startAgent, startTestService, type TestService } from './service-fixture.js';

async function vaultFull(conn: XmppConnection, ts: TestService): Promise<string> {
  await goOnline(conn);
  return ts.service.conn.jid;
}

function fetchIq(conn: XmppConnection, to: string, jid: string): Promise<Element> {
  return conn.sendReceive(xml('iq', { type: 'set', to }, xml('fetch', { xmlns: NS.keys, jid })));
}

function publishIq(conn: XmppConnection, to: string, bundle: BundleWire | Element): Promise<Element> {
  const el = 'ik' in bundle ? bundleToXml(bundle) : bundle;
  return conn.sendReceive(xml('iq', { type: 'set', to }, xml('publish', { xmlns: NS.keys }, el)));
}

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

  it('gives each of 20 one-time prekeys to at most one of 50 concurrent claimers, the signed prekey to the rest, and the owner replenishes when told', async () => {
    const ts = await startTestService({ SEALPOST_CLAIM_BURST: '100' });
    const bob = await startAgent(ts, 'bob', { prekeys: 20 });
    expect(await bob.agent.prekeyCount()).toBe(20);
    await bob.agent.stop(); // offline: the replenish notice waits in Prosody's offline store

    const claimers = await Promise.all(Array.from({ length: 10 }, () => connectFreshAccount('claimer')));
    const to = await vaultFull(claimers[0]!.conn, ts);
    const replies = await Promise.all(
      claimers.flatMap((c) => Array.from({ length: 5 }, () => fetchIq(c.conn, to, bob.account.jid))),
    );
    const opkIds: number[] = [];
    let signedOnly = 0;
    for (const reply of replies) {
      const bundle = reply.getChild('bundles', NS.keys)?.getChild('entry')?.getChild('bundle', NS.keys);
      expect(bundle).toBeDefined();
      const opks = bundle!.getChildren('opk');
      expect(opks.length).toBeLessThanOrEqual(1);
      if (opks.length === 1) opkIds.push(Number(opks[0]!.attrs.id));
      else signedOnly++;
      expect(bundle!.getChildren('spk')).toHaveLength(1);
    }
    expect(new Set(opkIds).size).toBe(opkIds.length); // never handed out twice
    expect(opkIds).toHaveLength(20);
    expect(signedOnly).toBe(30);

    // lowWater 0 turns off the start-up top-up: only the directory's notice can make Bob replenish
    // (back to his target of 20 fresh one-time prekeys; all 20 old ones were claimed).
    const back = await bob.reopen({ lowWater: 0 });
    await expect.poll(() => back.prekeyCount(), { timeout: 10_000 }).toBe(20);
    const after = await back.fetchBundles(bob.account.jid);
    expect(opkIds).not.toContain(after[0]?.bundle.oneTimePrekeys[0]?.id);
  });

  it('refuses a bundle for another JID, a bad signature, 101 one-time prekeys and a malformed IQ, leaving the stored bundle as it was', async () => {
    await initSodium();
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    const mallory = await connectFreshAccount('mallory');
    const to = await vaultFull(mallory.conn, ts);
    const before = await bob.agent.prekeyCount();

    const forBob = createAgentKeys({ jid: bob.account.jid, device: bob.agent.device, now: Date.now(), oneTimePrekeys: 5 });
    const asBob = publishIq(mallory.conn, to, bundleToWire(publicBundle(forBob)));
    await expect(asBob).rejects.toMatchObject({ condition: 'forbidden' });

    const own = createAgentKeys({ jid: mallory.account.jid, now: Date.now(), oneTimePrekeys: 101 });
    const tooMany = publishIq(mallory.conn, to, bundleToWire(publicBundle(own, 101)));
    await expect(tooMany).rejects.toMatchObject({ condition: 'resource-constraint' });

    const forged = bundleToWire(publicBundle(own, 10));
    const sig = Buffer.from(forged.opks[3]!.sig, 'base64');
    sig[5] = (sig[5] ?? 0) ^ 1;
    forged.opks[3]!.sig = sig.toString('base64');
    const bad = publishIq(mallory.conn, to, forged);
    await expect(bad).rejects.toMatchObject({ condition: 'not-acceptable' });
    await expect(bad).rejects.toThrow(/one-time prekey/);

    const malformed = publishIq(mallory.conn, to, xml('bundle', { xmlns: NS.keys, suite: 'sp1' }, xml('opk', { id: 'x' })));
    await expect(malformed).rejects.toMatchObject({ condition: 'bad-request' });
    const noBundle = mallory.conn.sendReceive(xml('iq', { type: 'set', to }, xml('publish', { xmlns: NS.keys })));
    await expect(noBundle).rejects.toBeInstanceOf(StanzaError);
    await expect(noBundle).rejects.toMatchObject({ condition: 'bad-request' });
    const unknownSuite = bundleToWire(publicBundle(own, 1));
    unknownSuite.suite = 'sp9';
    await expect(publishIq(mallory.conn, to, unknownSuite)).rejects.toMatchObject({ condition: 'feature-not-implemented' });

    // Nothing stored changed: Bob's bundle and count are as before, and Mallory has no device.
    expect(await bob.agent.prekeyCount()).toBe(before);
    const fetched = await fetchIq(mallory.conn, to, bob.account.jid);
    const ik = String(fetched.getChild('bundles', NS.keys)?.getChild('entry')?.getChild('bundle', NS.keys)?.attrs.ik);
    expect(displayFingerprint(new Uint8Array(Buffer.from(ik, 'base64')))).toBe(bob.agent.fingerprint);
    expect(ik).not.toBe(bundleToWire(publicBundle(forBob)).ik);
    await expect(fetchIq(mallory.conn, to, mallory.account.jid)).rejects.toMatchObject({ condition: 'item-not-found' });
  });

  it('rate-limits claims per (requester, target) and recovers as the bucket refills', async () => {
    const ts = await startTestService({ SEALPOST_CLAIM_BURST: '3', SEALPOST_CLAIM_RATE: '120' });
    const bob = await startAgent(ts, 'bob');
    const carol = await startAgent(ts, 'carol');
    const eve = await connectFreshAccount('eve');
    const to = await vaultFull(eve.conn, ts);
    for (let i = 0; i < 3; i++) await fetchIq(eve.conn, to, bob.account.jid);
    const tripped = fetchIq(eve.conn, to, bob.account.jid);
    await expect(tripped).rejects.toMatchObject({ condition: 'policy-violation' });
    await expect(tripped).rejects.toThrow(/too many prekey claims/);
    // Another target, and another requester, have buckets of their own.
    await fetchIq(eve.conn, to, carol.account.jid);
    await bob.agent.fetchBundles(carol.account.jid);
    await new Promise((r) => setTimeout(r, 600)); // 120/min: one token back every 500 ms
    const recovered = await fetchIq(eve.conn, to, bob.account.jid);
    expect(recovered.getChild('bundles', NS.keys)).toBeDefined();
  });

  it('keeps the directory and its server key across a restart', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    const first = await alice.agent.fetchBundles(bob.account.jid);
    const again = await ts.restart();
    expect(again.service.directory.serverPublicKey).toEqual(ts.service.directory.serverPublicKey);
    // Alice pinned the server key: a new one would be refused (UntrustedKey), so this proves it kept.
    await expect.poll(async () => (await alice.agent.fetchBundles(bob.account.jid).catch(() => []))[0]?.firstSeen, { timeout: 10_000 }).toBe(first[0]?.firstSeen);
    expect(await bob.agent.prekeyCount()).toBe(98);
  });
});
