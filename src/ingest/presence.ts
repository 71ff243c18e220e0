// Presence at the vault (design.md "XMPP surfaces": Presence): it approves subscription requests
// from allowed domains and subscribes back, and answers an agent's available presence (directed
// or broadcast) with directed presence from its full JID, so the agent knows where to send IQs.
import type { Logger } from '../log/index.js';
import { parseJid, xml, type Element, type XmppConnection } from '../xmpp/index.js';

export interface PresenceHooks {
  /** An agent resource became available; `stanza` is its presence. */
  available?(full: string, stanza: Element): void;
  unavailable?(full: string): void;
}

export interface PresenceOptions {
  conn: XmppConnection;
  allowedDomains: readonly string[];
  logger: Logger;
  hooks?: PresenceHooks;
}

export function registerPresence(options: PresenceOptions): void {
  const { conn } = options;
  const log = options.logger.child({ module: 'presence' });
  const allowed = new Set(options.allowedDomains.map((d) => d.toLowerCase()));

  conn.on('stanza', (stanza) => {
    if (!stanza.is('presence') || typeof stanza.attrs.from !== 'string') return;
    let from;
    try {
      from = parseJid(stanza.attrs.from);
    } catch {
      return;
    }
    if (from.bare === conn.bareJid) return; // our own resources
    const type = stanza.attrs.type as string | undefined;
    const send = (el: Element): void => void conn.send(el).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'presence reply failed'));
    if (type === 'subscribe') {
      if (allowed.has(from.domain)) {
        send(xml('presence', { to: from.bare, type: 'subscribed' }));
        send(xml('presence', { to: from.bare, type: 'subscribe' }));
        log.info({ jid: from.bare }, 'subscription approved');
      } else {
        send(xml('presence', { to: from.bare, type: 'unsubscribed' }));
        log.info({ domain: from.domain }, 'subscription refused: domain not allowed');
      }
      return;
    }
    if (from.resource === undefined || !allowed.has(from.domain)) return;
    if (type === undefined) {
      send(xml('presence', { to: from.full }));
      options.hooks?.available?.(from.full, stanza);
    } else if (type === 'unavailable') {
      options.hooks?.unavailable?.(from.full);
    }
  });
}
