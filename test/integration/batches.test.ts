// Batches end to end (issue 9) against real Prosody, Redis and files: concurrent sends leave the
// SDK in a few submission stanzas, each message acknowledged and stored once in call order; a raw
// batch with one bad item gets the good ones stored and named in one receipt and the bad one
// refused alone; a backlog reaches a device that takes batches several copies to a stanza, in order,
// every copy acknowledged and recorded.
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { isSubmission } from '../../src/ingest/index.js';
import { envelopeToWire, seal, type EnvelopeWire } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { envelopeToXml } from '../../src/protocol/xml-codec.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { waitForStanza } from './helpers.js';
import { rawSenderTo, startAgent, startTestService } from './service-fixture.js';

describe('batches', () => {
  it('concurrent sends go out in a few submission stanzas; each is acknowledged and stored once, in call order', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    const alice = await startAgent(ts, 'alice');
    let submissions = 0;
    ts.service.conn.on('stanza', (s) => {
      if (isSubmission(s)) submissions++;
    });
    const texts = Array.from({ length: 150 }, (_, i) => `m${i}`);
    const results = await Promise.all(texts.map((t) => alice.agent.send(bob.account.jid, t)));
    expect(new Set(results.map((r) => r.messageId)).size).toBe(150);
    expect(submissions).toBeGreaterThan(0);
    expect(submissions).toBeLessThan(150);
    expect(alice.agent.outbox.size).toBe(0);
    const device = bob.agent.device;
    expect(ts.service.archive.pendingFor(bob.account.jid, device, { limit: 1000 }).map((p) => p.messageId)).toEqual(results.map((r) => r.messageId));

    const more = await alice.agent.sendMany(bob.account.jid, ['x', 'y', 'z']);
    expect(ts.service.archive.pendingCounts(bob.account.jid).messages).toBe(153);
    expect(more).toHaveLength(3);
  });

  it('a raw batch with one bad item: the good ones are stored and named in one receipt, the bad one refused alone', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    const { conn, keys, targets } = await rawSenderTo(ts, bob.account.jid);
    const sealed = (text: string): EnvelopeWire =>
      envelopeToWire(seal({ from: keys.identity, to: bob.account.jid, devices: targets.devices, plaintext: new TextEncoder().encode(text), contentType: 'text/plain' }));
    const [one, two, three] = [sealed('one'), sealed('two'), sealed('three')];
    const bad = envelopeToXml({ ...two, payload: 'not base64!' });

    const refusal = waitForStanza(conn, (s) => s.attrs.type === 'error' && s.getChild('rejected', NS.sealed) !== undefined);
    const receipt = waitForStanza(conn, (s) => s.getChild('received', NS.receipts)?.attrs.id === 'batch-1');
    await conn.send(xml('message', { to: ts.vault.jid, id: 'batch-1' }, envelopeToXml(one), bad, envelopeToXml(three), xml('request', { xmlns: NS.receipts })));
    const [r, ok] = [await refusal, await receipt];
    expect(r.getChild('rejected', NS.sealed)?.attrs.id).toBe(two.id);
    expect(r.getChild('error')?.getChildElements().some((c) => c.name === 'bad-request')).toBe(true);
    expect(ok.getChildren('stored', NS.sealed).map((s: Element) => String(s.attrs.id))).toEqual([one.id, three.id]);
    expect(ts.service.archive.pendingFor(bob.account.jid, bob.agent.device, { limit: 10 }).map((p) => p.messageId)).toEqual([one.id, three.id]);
  });

  it('a backlog reaches a device that takes batches several copies to a stanza, in order, each acknowledged', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    const alice = await startAgent(ts, 'alice');
    const texts = Array.from({ length: 120 }, (_, i) => `b${i}`);
    await alice.agent.sendMany(bob.account.jid, texts);

    const stanzas: number[] = [];
    const send = ts.service.conn.send.bind(ts.service.conn);
    (ts.service.conn as { send: typeof send }).send = (stanza: Element) => {
      if (stanza.attrs.type === 'headline') stanzas.push(Math.max(stanza.getChildren('item', NS.sealed).length, stanza.getChild('sealed', NS.sealed) ? 1 : 0));
      return send(stanza);
    };
    let receipts = 0;
    ts.service.conn.on('stanza', (s) => {
      if (s.getChildren('received', NS.receipts).length > 0 && String(s.attrs.from).startsWith(bob.account.jid)) receipts++;
    });
    const seen: ReceivedMessage[] = [];
    await bob.reopen({ onMessage: (m) => void seen.push(m) });
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBe(120);
    await expect.poll(() => ts.service.archive.pendingCounts(bob.account.jid).messages, { timeout: 10_000 }).toBe(0);
    expect(seen.map((m) => m.text())).toEqual(texts);
    expect(stanzas.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(120);
    expect(Math.max(...stanzas)).toBeGreaterThan(1);
    expect(receipts).toBeLessThan(120);
  });
});
