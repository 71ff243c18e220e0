// The vault's own presence (design.md "XMPP surfaces": Submit): its initial presence makes the
// XMPP server flush the submissions it kept in offline storage while the vault was down. A new
// session after a reconnect (the server restarted; a resumed one keeps its presence) is
// unavailable until it says otherwise: without the presence again, submissions went to offline
// storage and agents' announcements were dropped until the service restarted (seen in the fault
// tests). Priority 1, so the bare JID's messages come to this resource.
import type { Logger } from '../log/index.js';
import { xml, type XmppConnection } from '../xmpp/index.js';

const available = () => xml('presence', {}, xml('priority', {}, '1'));

/** Sends the initial presence (resolves once written) and again after each new session. */
export async function registerInitialPresence({ conn, logger }: { conn: Pick<XmppConnection, 'send' | 'on'>; logger: Logger }): Promise<{ close(): void }> {
  await conn.send(available());
  const log = logger.child({ module: 'presence' });
  const off = conn.on('online', () => {
    conn.send(available()).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'presence after reconnect not sent'));
  });
  return { close: off };
}
