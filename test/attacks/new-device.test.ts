// Attack 4 of issue 14: new devices trusted silently. Trust on first use was per (jid, device):
// someone holding a second device of a known contact (a stolen password is enough to publish one)
// wrote to the victim and the message arrived as trust 'new', exactly as from a stranger's first
// message, without a word. Now it is an event and a trust state ('new-device'), or refused until
// the user accepts the device.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgent, type Agent } from '../../src/agent/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import { envelopeToWire, parseFingerprint, seal } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { envelopeToXml } from '../../src/protocol/xml-codec.js';
import { xml } from '../../src/xmpp/index.js';
import { rawSenderTo, startAgent, startTestService, type TestAgent } from '../integration/service-fixture.js';
import { watchVaultStream } from './attacker.js';

/** A second device of `victimContact`'s account, run by whoever holds its password. */
async function secondDevice(contact: TestAgent): Promise<Agent> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-hostile-'));
  const agent = await createAgent({ ...contact.options, dir, secret: { key: new Uint8Array(randomBytes(32)) } });
  onTestFinished(async () => {
    await agent.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return agent;
}

describe('attack: new device of a known contact', () => {
  it("a message from a contact's new device arrives as 'new-device' with a newDevice event, not as a silent first use", async () => {
    const ts = await startTestService();
    const stream = watchVaultStream(ts);
    const bob = await startAgent(ts, 'bob');
    const alice = await startAgent(ts, 'alice');
    const got: { text: string; trust: string; device: number }[] = [];
    bob.agent.onMessage((m) => void got.push({ text: m.text(), trust: m.trust, device: m.device }));
    const events: { jid: string; device: number }[] = [];
    bob.agent.on('newDevice', (e) => events.push(e));

    await alice.agent.send(bob.account.jid, 'from the phone');
    await expect.poll(() => got.length, { timeout: 20_000 }).toBe(1);
    expect(got[0]?.trust).toBe('new'); // a new contact: first use
    const hostile = await secondDevice(alice);
    await hostile.send(bob.account.jid, 'from a device Bob never saw');
    await expect.poll(() => got.length, { timeout: 20_000 }).toBe(2);
    expect(got[1]).toMatchObject({ text: 'from a device Bob never saw', device: hostile.device });
    expect(got[1]?.trust, 'trust of a new device of a known contact').toBe('new-device');
    expect(events).toEqual([{ jid: alice.account.jid, device: hostile.device, fingerprint: hostile.fingerprint }]);
    stream.assertUp();
  });

  it('with newDevices "refuse" the new device is refused until the user accepts it; the known device keeps working', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob', { newDevices: 'refuse' });
    const alice = await startAgent(ts, 'alice');
    const got: string[] = [];
    bob.agent.onMessage((m) => void got.push(m.text()));
    const dropped: { code: string; acknowledged: boolean }[] = [];
    bob.agent.on('dropped', (d) => dropped.push({ code: d.error.code, acknowledged: d.acknowledged }));

    await alice.agent.send(bob.account.jid, 'known device');
    await expect.poll(() => got, { timeout: 20_000 }).toEqual(['known device']);
    const hostile = await secondDevice(alice);
    await hostile.send(bob.account.jid, 'let me in');
    await expect.poll(() => dropped.length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(dropped[0]).toEqual({ code: ErrorCode.UntrustedKey, acknowledged: false });
    expect(got).toEqual(['known device']);
    await alice.agent.send(bob.account.jid, 'still the phone');
    await expect.poll(() => got, { timeout: 20_000 }).toEqual(['known device', 'still the phone']);

    // The user compares fingerprints and accepts the device: it is pinned.
    const rec = await bob.agent.trust.acceptDevice(alice.account.jid, hostile.device, parseFingerprint(hostile.fingerprint), Date.now());
    expect(rec.level).toBe('tofu');
    expect((await bob.agent.trust.get(alice.account.jid, hostile.device))?.device).toBe(hostile.device);
  });

  it('refuses a sender key the directory never countersigned (not acknowledged); honest senders are unharmed', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    const got: string[] = [];
    bob.agent.onMessage((m) => void got.push(m.text()));
    const dropped: { code: string; acknowledged: boolean }[] = [];
    bob.agent.on('dropped', (d) => dropped.push({ code: d.error.code, acknowledged: d.acknowledged }));
    // Mallory signs with a device key she never published: no countersigned record of it exists.
    const mallory = await rawSenderTo(ts, bob.account.jid);
    const w = envelopeToWire(
      seal({ from: mallory.keys.identity, to: bob.account.jid, devices: mallory.targets.devices, plaintext: new TextEncoder().encode('unvouched'), contentType: 'text/plain' }),
    );
    await mallory.conn.send(xml('message', { to: ts.vault.jid, id: w.id }, envelopeToXml(w), xml('request', { xmlns: NS.receipts })));
    await expect.poll(() => dropped.length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(dropped[0]).toEqual({ code: ErrorCode.UntrustedKey, acknowledged: false });
    expect(await bob.agent.trust.get(mallory.account.jid, mallory.keys.identity.device)).toBeUndefined();
    const alice = await startAgent(ts, 'alice');
    await alice.agent.send(bob.account.jid, 'vouched');
    await expect.poll(() => got, { timeout: 20_000 }).toEqual(['vouched']);
  });
});
