// Issue 14's weak spot in archive/transit.ts: the resend-conflict flag was never read, so a
// resend with the id of a stored message but other bytes was acknowledged and silently dropped;
// its sender believed the new content kept. It is refused with conflict (RFC 6120 §8.3.3.2).
import { describe, expect, it } from 'vitest';
import { envelopeToWire, seal } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { envelopeToXml } from '../../src/protocol/xml-codec.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { waitForStanza } from '../integration/helpers.js';
import { rawSenderTo, startAgent, startTestService } from '../integration/service-fixture.js';
import { honestExchange, watchVaultStream } from './attacker.js';

describe('attack: resend with the same id and other bytes', () => {
  it('acknowledges the first and an identical resend, refuses a different one with conflict', async () => {
    const ts = await startTestService();
    const stream = watchVaultStream(ts);
    const bob = await startAgent(ts, 'bob');
    const mallory = await rawSenderTo(ts, bob.account.jid);
    const sealed = (text: string) =>
      envelopeToWire(
        seal({
          from: mallory.keys.identity,
          to: bob.account.jid,
          devices: mallory.targets.devices,
          plaintext: new TextEncoder().encode(text),
          contentType: 'text/plain',
          messageId: 'same-id-0001',
        }),
      );
    const submit = async (id: string, wire: ReturnType<typeof sealed>): Promise<Element> => {
      const answer = waitForStanza(
        mallory.conn,
        (s) => s.is('message') && (s.attrs.type === 'error' ? s.attrs.id === id : s.getChild('received', NS.receipts)?.attrs.id === id),
        10_000,
      );
      await mallory.conn.send(xml('message', { to: ts.vault.jid, id }, envelopeToXml(wire), xml('request', { xmlns: NS.receipts })));
      return answer;
    };
    const first = sealed('first');
    expect((await submit('s1', first)).attrs.type).not.toBe('error');
    expect((await submit('s2', first)).attrs.type).not.toBe('error');
    const other = await submit('s3', sealed('other content'));
    expect(other.attrs.type, 'a resend with other bytes was acknowledged').toBe('error');
    expect(other.getChild('error')?.getChild('conflict', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(other.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(/already stored with other content/);

    await honestExchange(ts);
    stream.assertUp();
  });
});
