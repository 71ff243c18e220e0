// X-Wing archive copies at a running vault (issue 18 part 1): the directory hands out the
// recipient's X-Wing archive key with its suite, the vault stores the larger archive block, and an
// attacker's archive block of any other size (garbage) is refused with bad-request, nothing stored.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { envelopeToWire, seal, XWING_EXTRA_BYTES, XWING_SUITE, type EnvelopeWire } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { envelopeToXml } from '../../src/protocol/xml-codec.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { waitForStanza } from './helpers.js';
import { rawSenderTo, startAgent, startTestService } from './service-fixture.js';

describe('X-Wing archive copies at the vault', () => {
  it('stores a well-sized X-Wing archive block and refuses one a byte longer or shorter, storing nothing', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    const { conn, keys, targets } = await rawSenderTo(ts, bob.account.jid);
    expect(targets.archive?.suite).toBe(XWING_SUITE); // fetched with its suite, signature checked
    const wire = (): EnvelopeWire =>
      envelopeToWire(
        seal({ from: keys.identity, to: bob.account.jid, devices: targets.devices, recipientArchive: targets.archive, plaintext: new Uint8Array(randomBytes(100)), contentType: 'text/plain' }),
      );
    const submit = async (w: EnvelopeWire): Promise<Element> => {
      const answer = waitForStanza(conn, (s) => (s.attrs.type === 'error' && s.getChild('rejected', NS.sealed) !== undefined) || s.getChild('received', NS.receipts) !== undefined);
      await conn.send(xml('message', { to: ts.vault.jid, id: w.id }, envelopeToXml(w), xml('request', { xmlns: NS.receipts })));
      return answer;
    };
    const resize = (w: EnvelopeWire, delta: number): EnvelopeWire => {
      const blocks = w.blocks.map((b) => {
        if (b.ak === undefined) return b;
        const box = Buffer.from(b.box, 'base64');
        const out = Buffer.alloc(box.length + delta);
        box.copy(out, 0, 0, Math.min(box.length, out.length));
        return { ...b, box: out.toString('base64') };
      });
      return { ...w, blocks };
    };
    for (const delta of [1, -1, -XWING_EXTRA_BYTES + 1]) {
      const bad = resize(wire(), delta);
      const r = await submit(bad);
      expect(r.getChild('rejected', NS.sealed)?.attrs.id, `delta ${delta}`).toBe(bad.id);
      expect(r.getChild('error')?.getChildElements().some((c) => c.name === 'bad-request'), `delta ${delta}`).toBe(true);
    }
    expect(ts.service.archive.pendingCounts(bob.account.jid).messages).toBe(0);

    const good = wire();
    const ak = good.blocks.find((b) => b.ak !== undefined);
    const dev = good.blocks.find((b) => b.device !== undefined);
    expect(Buffer.from(ak?.box ?? '', 'base64').length - Buffer.from(dev?.box ?? '', 'base64').length).toBe(XWING_EXTRA_BYTES);
    const ok = await submit(good);
    expect(ok.getChild('received', NS.receipts)?.attrs.id).toBe(good.id);
    expect(ts.service.archive.pendingCounts(bob.account.jid).messages).toBe(1);
    const stored = ts.service.archive.query(bob.account.jid, { max: 10 }).items;
    expect(stored.map((i) => i.archiveBlock.block.length)).toEqual([Buffer.from(ak?.box ?? '', 'base64').length]);
  });
});
