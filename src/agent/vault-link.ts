// How an agent finds and follows the vault (design.md "XMPP surfaces": Presence): it sends
// directed presence to the vault's bare JID (with its signed device announcement, when it has
// one); the vault answers with directed presence from its full JID, which is where key IQs and
// history queries go. A later presence from the vault (restart, new resource) moves the link.
import { AppError, ErrorCode } from '../errors/index.js';
import { fromStanzaError } from '../protocol/index.js';
import { bareJid, StanzaError, xml, type Element, type XmppConnection } from '../xmpp/index.js';

export interface VaultLink {
  readonly bare: string;
  /** The vault's full JID; waits (up to the timeout) while the vault is not known to be online. */
  full(timeoutMs?: number): Promise<string>;
  /** Sends an IQ to the vault's full JID and resolves with the reply's first child. */
  iq(type: 'get' | 'set', child: Element, timeoutMs?: number): Promise<Element | undefined>;
  /** Announces this agent again (after reconnect). */
  announce(): Promise<void>;
  subscribe(): Promise<void>;
  on(event: 'online', listener: (full: string) => void): void;
  close(): void;
}

export function linkVault(conn: XmppConnection, vaultBare: string, announcement: () => Element | undefined): VaultLink {
  const bare = bareJid(vaultBare);
  let current: string | undefined;
  const waiters = new Set<(full: string) => void>();
  const listeners = new Set<(full: string) => void>();

  const off = conn.on('stanza', (stanza) => {
    if (!stanza.is('presence') || typeof stanza.attrs.from !== 'string') return;
    let from: string;
    try {
      if (bareJid(stanza.attrs.from) !== bare) return;
      from = stanza.attrs.from;
    } catch {
      return;
    }
    if (!from.includes('/') && stanza.attrs.type !== 'subscribe') return;
    if (stanza.attrs.type === 'subscribe') {
      // The vault subscribes back after approving ours: approve it, so each sees the other come online.
      void conn.send(xml('presence', { to: bare, type: 'subscribed' })).catch(() => undefined);
      return;
    }
    if (stanza.attrs.type === 'unavailable') {
      if (current === from) current = undefined;
      return;
    }
    if (stanza.attrs.type !== undefined) return;
    const moved = current !== from;
    current = from;
    for (const w of waiters) w(from);
    waiters.clear();
    if (moved) for (const l of listeners) l(from);
  });
  const offOnline = conn.on('online', () => {
    current = undefined;
    void announce().catch(() => undefined);
  });

  async function announce(): Promise<void> {
    const extra = announcement();
    await conn.send(xml('presence', { to: bare }, ...(extra === undefined ? [] : [extra])));
  }

  /** Asks to see the vault's presence (roster subscription); the vault approves allowed domains. */
  async function subscribe(): Promise<void> {
    await conn.send(xml('presence', { to: bare, type: 'subscribe' }));
  }

  function full(timeoutMs = 10_000): Promise<string> {
    if (current !== undefined) return Promise.resolve(current);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(again);
        waiters.delete(done);
        reject(new AppError(ErrorCode.Unavailable, `the vault ${bare} did not answer within ${timeoutMs} ms (is it running?)`));
      }, timeoutMs);
      // While waiting, say hello again now and then: the vault may have restarted.
      const again = setInterval(() => void announce().catch(() => undefined), 2000);
      const done = (jid: string): void => {
        clearTimeout(timer);
        clearInterval(again);
        resolve(jid);
      };
      waiters.add(done);
    });
  }

  return {
    bare,
    full,
    async iq(type, child, timeoutMs = 15_000) {
      const to = await full(timeoutMs);
      try {
        const reply = await conn.sendReceive(xml('iq', { type, to }, child), timeoutMs);
        return reply.getChildElements()[0];
      } catch (err) {
        if (err instanceof StanzaError) throw fromStanzaError(err.condition, err.text);
        throw err;
      }
    },
    announce,
    subscribe,
    on(_event, listener) {
      listeners.add(listener);
    },
    close() {
      off();
      offOnline();
      for (const w of waiters) waiters.delete(w);
    },
  };
}
