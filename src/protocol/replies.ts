// Replies to a submitter, shared by ingest (refusals before queueing) and the store worker
// (the XEP-0184 receipt after commit, refusals after queueing): one shape for both.
// Each carries XEP-0334 <no-permanent-store/>: the XMPP server keeps it offline if need be, but
// does not archive it (Prosody's MAM stores any message with a receipt element otherwise).
import { xml, stanzaError, type Element } from '../xmpp/index.js';
import { NS, noPermanentStore } from './namespaces.js';
import { toStanzaError } from './stanza-errors.js';

/** XEP-0184 receipt for a stored submission; `stanzaId` is the submission's id. */
export function receiptStanza(to: string, stanzaId: string, messageId: string): Element {
  return xml(
    'message',
    { to, type: 'normal' },
    xml('received', { xmlns: NS.receipts, id: stanzaId }),
    xml('stored', { xmlns: NS.sealed, id: messageId }),
    noPermanentStore(),
  );
}

/**
 * `<message type='error'>` naming the refused item, with the RFC 6120 condition and text. It always
 * carries `<rejected/>` (with the item's id when one was refused): that marks the vault's own answer,
 * which the SDK tells apart from the XMPP server bouncing a submission the vault never read.
 */
export function refusalStanza(to: string, stanzaId: string | undefined, messageId: string | undefined, err: unknown): Element {
  const spec = toStanzaError(err);
  const reply = xml('message', { to, type: 'error', ...(stanzaId ? { id: stanzaId } : {}) });
  reply.append(xml('rejected', { xmlns: NS.sealed, ...(messageId === undefined ? {} : { id: messageId }) }));
  reply.append(stanzaError(spec.type, spec.condition, spec.text));
  reply.append(noPermanentStore());
  return reply;
}
