// Attack 3 of issue 14: forced history copies. Ingest accepted an archive-key block for a
// recipient that published no archive key (sealed to a key the sender made up): a copy was kept
// after delivery, in the recipient's archive, for as long as retention allows, though the
// recipient chose transit only. Archive-key blocks go only to an owner's published archive key.
import { describe, expect, it } from 'vitest';
import { createAgentKeys, envelopeToWire, seal } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { envelopeToXml } from '../../src/protocol/xml-codec.js';
import { xml } from '../../src/xmpp/index.js';
import { waitForStanza } from '../integration/helpers.js';
import { rawSenderTo, startAgent, startTestService } from '../integration/service-fixture.js';
import { honestExchange, watchVaultStream } from './attacker.js';

describe('attack: forced history copies', () => {
  it('refuses an archive-key block for a recipient that published no archive key, and its message is not kept', async () => {
    const ts = await startTestService();
    const stream = watchVaultStream(ts);
    const bob = await startAgent(ts, 'bob', { archiveKey: false });
    const mallory = await rawSenderTo(ts, bob.account.jid);
    expect(mallory.targets.archive).toBeUndefined();
    const madeUp = createAgentKeys({ jid: mallory.account.jid, now: Date.now(), oneTimePrekeys: 0, archiveKey: true }).archiveKey!;
    const envelope = seal({
      from: mallory.keys.identity,
      to: bob.account.jid,
      devices: mallory.targets.devices,
      recipientArchive: { id: madeUp.id, publicKey: madeUp.publicKey, ...(madeUp.suite === undefined ? {} : { suite: madeUp.suite }) },
      plaintext: new TextEncoder().encode('kept against your will'),
      contentType: 'text/plain',
    });
    const wire = envelopeToWire(envelope);
    const answer = waitForStanza(
      mallory.conn,
      (s) => s.is('message') && (s.attrs.type === 'error' || s.getChild('received', NS.receipts) !== undefined),
      10_000,
    );
    await mallory.conn.send(xml('message', { to: ts.vault.jid, id: 'forced-1' }, envelopeToXml(wire), xml('request', { xmlns: NS.receipts })));
    const reply = await answer;
    expect(reply.attrs.type, 'the forced copy was acknowledged (stored)').toBe('error');
    const error = reply.getChild('error');
    expect(error?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(error?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(/published no archive key/);
    expect(ts.service.archive.holdsMessage(bob.account.jid, mallory.account.jid, wire.id)).toBe(false);

    await honestExchange(ts);
    stream.assertUp();
  });
});
