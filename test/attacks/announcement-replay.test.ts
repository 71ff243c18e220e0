// Attack 9 of issue 14: a signed device announcement was accepted again within its ±10 minute
// window. Whoever can send from the device's full JID again (a session that took over the
// account and the resource, with an announcement seen earlier) re-registered the device at a
// session that does not hold its keys: its deliveries went there, and acknowledging them ended
// them for the real device. An announcement not newer than the last one accepted is refused.
import { describe, expect, it } from 'vitest';
import { signAnnouncement } from '../../src/keys/index.js';
import { announcementToXml } from '../../src/protocol/delivery.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { waitForStanza } from '../integration/helpers.js';
import { startTestService } from '../integration/service-fixture.js';
import { attacker, honestExchange, watchVaultStream } from './attacker.js';

describe('attack: announcement replay', () => {
  it('refuses an announcement replayed after its session went unavailable, with not-acceptable, and keeps the device unregistered', async () => {
    const ts = await startTestService();
    const stream = watchVaultStream(ts);
    const mallory = await attacker(ts);
    const keys = await mallory.publishDevice(1);
    const device = keys.identity.device;
    const resource = mallory.conn.jid.split('/')[1] ?? '';
    const registry = ts.service.delivery.registry;
    const vaultBare = ts.service.conn.bareJid;
    const announce = (): Element => xml('presence', { to: vaultBare }, announcementToXml(signAnnouncement(keys.identity, resource, Date.now())));

    // A fresh announcement registers the device at this session.
    const first = announce();
    await mallory.conn.send(first);
    await expect.poll(() => registry.resourceOf(mallory.account.jid, device)).toBe(resource);
    // The session ends; the same signed announcement comes again from the same full JID.
    await mallory.conn.send(xml('presence', { to: vaultBare, type: 'unavailable' }));
    await expect.poll(() => registry.resourceOf(mallory.account.jid, device)).toBeUndefined();
    const refusal = waitForStanza(mallory.conn, (s) => s.is('presence') && s.attrs.type === 'error', 5_000);
    await mallory.conn.send(xml('presence', { to: vaultBare }, ...first.getChildElements()));
    const answer = await refusal.catch(() => undefined);
    expect(await registry.resourceOf(mallory.account.jid, device), 'the replay registered the device again').toBeUndefined();
    const error = answer?.getChild('error');
    expect(error?.getChild('not-acceptable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(error?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(/not newer than the last one accepted/);

    // A newer announcement from the device is taken again; honest users go on as before.
    await mallory.conn.send(announce());
    await expect.poll(() => registry.resourceOf(mallory.account.jid, device)).toBe(resource);
    await honestExchange(ts);
    stream.assertUp();
  });
});
