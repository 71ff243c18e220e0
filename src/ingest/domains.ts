// The served domains, on every surface (issue 14, attack 7): SEALPOST_ALLOWED_DOMAINS held only for
// presence subscriptions, so a federated server could mint JIDs past every per-JID limit through
// key IQs, submissions, MAM and retention. The vault's connection is handed to those surfaces
// through this gate: an IQ from a domain it does not serve is answered `forbidden` (RFC 6120
// §8.3.3.4) before any handler runs, and so is a submission; other messages from there are dropped.
import { AppError, ErrorCode } from '../errors/index.js';
import { refusalStanza } from '../protocol/index.js';
import { parseJid, stanzaError, type IqHandler, type XmppConnection } from '../xmpp/index.js';
import { isSubmission } from './submit.js';

function domainOf(from: unknown): string | undefined {
  if (typeof from !== 'string') return undefined;
  try {
    return parseJid(from).domain;
  } catch {
    return undefined;
  }
}

/** `conn` as the vault's surfaces see it: only stanzas from `allowedDomains` (and the vault's own account) reach them. */
export function servedOnly(conn: XmppConnection, allowedDomains: readonly string[]): XmppConnection {
  const allowed = new Set(allowedDomains.map((d) => d.toLowerCase()));
  const served = (from: unknown): boolean => {
    const domain = domainOf(from);
    return (domain !== undefined && allowed.has(domain)) || (typeof from === 'string' && from.split('/')[0] === conn.bareJid);
  };
  // Several surfaces listen for stanzas; a refused submission is answered once.
  const refused = new WeakSet<object>();
  const refusal = (from: string): AppError => {
    const domain = domainOf(from) ?? 'unknown';
    return new AppError(ErrorCode.Forbidden, `accounts of ${domain} are not served by this vault`);
  };
  const gate =
    (handler: IqHandler): IqHandler =>
    (ctx) => {
      if (served(ctx.from)) return handler(ctx);
      return stanzaError('auth', 'forbidden', refusal(ctx.from).message);
    };
  const on: XmppConnection['on'] = (event, listener) => {
    if (event !== 'stanza') return conn.on(event, listener);
    return conn.on('stanza', (stanza) => {
      const from: unknown = stanza.attrs.from;
      if (stanza.is('presence') || served(from) || typeof from !== 'string') {
        (listener as (s: typeof stanza) => void)(stanza);
        return;
      }
      if (isSubmission(stanza) && !refused.has(stanza)) {
        refused.add(stanza);
        const id = typeof stanza.attrs.id === 'string' ? stanza.attrs.id.slice(0, 128) : undefined;
        conn.send(refusalStanza(from, id, undefined, refusal(from))).catch(() => undefined);
      }
    });
  };
  return {
    get jid() {
      return conn.jid;
    },
    bareJid: conn.bareJid,
    get status() {
      return conn.status;
    },
    send: (stanza) => conn.send(stanza),
    sendReceive: (iq, timeoutMs) => conn.sendReceive(iq, timeoutMs),
    iqCallee: {
      get: (ns, name, handler) => conn.iqCallee.get(ns, name, gate(handler)),
      set: (ns, name, handler) => conn.iqCallee.set(ns, name, gate(handler)),
    },
    on,
    stop: () => conn.stop(),
  };
}
