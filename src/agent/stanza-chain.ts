// The agent's incoming stanzas pass through one chain of middleware, in the manner of xmpp.js's
// `middleware.use((ctx, next) => ...)`: each handler takes what is its own and calls `next()` for
// the rest, so the order of the sender, the receiver and the notices is written down in one place.
import type { Logger } from '../log/index.js';
import { bareJid, type Element, type XmppConnection } from '../xmpp/index.js';

/** Handles `stanza`, or passes it on with `next()`. */
export type StanzaMiddleware = (stanza: Element, next: () => void) => void;

export interface StanzaChain {
  use(fn: StanzaMiddleware): void;
  close(): void;
}

export function stanzaChain(conn: Pick<XmppConnection, 'on'>, logger: Logger): StanzaChain {
  const chain: StanzaMiddleware[] = [];
  const run = (stanza: Element, i: number): void => {
    const fn = chain[i];
    if (fn !== undefined) fn(stanza, () => run(stanza, i + 1));
  };
  const off = conn.on('stanza', (stanza) => {
    try {
      run(stanza, 0);
    } catch (err) {
      logger.warn({ error: (err as Error).message }, 'incoming stanza handling failed');
    }
  });
  return {
    use: (fn) => void chain.push(fn),
    close: off,
  };
}

/** True when the stanza comes from the vault's account (any resource): only it may acknowledge or deliver. */
export function fromVault(stanza: Element, vault: string): boolean {
  if (typeof stanza.attrs.from !== 'string') return false;
  try {
    return bareJid(stanza.attrs.from) === vault;
  } catch {
    return false;
  }
}
