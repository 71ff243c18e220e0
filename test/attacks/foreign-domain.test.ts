// Attack 7 of issue 14: SEALPOST_ALLOWED_DOMAINS held only for presence subscriptions; key IQs,
// submissions, MAM and retention answered any domain, so a federated server could mint JIDs past
// every per-JID limit. The harness's Prosody serves one domain, so the vault here serves another
// one: every account on the harness is from a domain it does not serve.
import { describe, expect, it } from 'vitest';
import { NS } from '../../src/protocol/namespaces.js';
import { xml } from '../../src/xmpp/index.js';
import { waitForStanza } from '../integration/helpers.js';
import { startTestService } from '../integration/service-fixture.js';
import { attacker, expectRefusal, watchVaultStream } from './attacker.js';

const NS_ARCHIVE = 'urn:sealpost:archive:1';

describe('attack: accounts of a domain the vault does not serve', () => {
  it('refuses publish, fetch, devices, count, MAM, retention and submissions with forbidden, and stores nothing', async () => {
    const ts = await startTestService({ SEALPOST_ALLOWED_DOMAINS: 'served.example' });
    const stream = watchVaultStream(ts);
    const mallory = await attacker(ts);
    const other = `someone@${mallory.account.jid.split('@')[1]}`;
    const notServed = /not served by this vault/;

    await expectRefusal(mallory.publishDevice(1), 'forbidden', notServed);
    await expectRefusal(mallory.fetch(other), 'forbidden', notServed);
    await expectRefusal(mallory.iq('get', xml('devices', { xmlns: NS.keys, jid: other })), 'forbidden', notServed);
    await expectRefusal(mallory.iq('get', xml('count', { xmlns: NS.keys, device: '1' })), 'forbidden', notServed);
    await expectRefusal(mallory.iq('set', xml('query', { xmlns: NS.mam })), 'forbidden', notServed);
    await expectRefusal(mallory.iq('get', xml('retention', { xmlns: NS_ARCHIVE })), 'forbidden', notServed);
    expect(ts.service.directory.devices(mallory.account.jid)).toEqual([]);

    // A submission is answered with forbidden before anything else is looked at.
    const refusal = waitForStanza(mallory.conn, (s) => s.is('message') && s.attrs.type === 'error', 10_000);
    await mallory.conn.send(xml('message', { to: ts.service.conn.bareJid, id: 'sub-1' }, xml('sealed', { xmlns: NS.sealed, id: 'x' })));
    const error = (await refusal).getChild('error');
    expect(error?.getChild('forbidden', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(error?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(notServed);
    stream.assertUp();
  });
});
