// The submitter's side of a submission (design.md "XMPP surfaces": Submit): the `<message>` that
// carries one or more sealed items to the vault's bare JID with a XEP-0184 request, and what the
// answers to it mean — a receipt after commit (`<received/>`, `<stored/>` per item of a batch), a
// refusal by the vault (RFC 6120 error with `<rejected/>`), or a bounce by the XMPP server.
import type { AppError } from '../errors/index.js';
import { StanzaError, xml, type Element } from '../xmpp/index.js';
import { storedIds } from './batches.js';
import { NS, noPermanentStore } from './namespaces.js';
import { fromStanzaError } from './stanza-errors.js';

/** A submission stanza: sealed items (one, or a batch), a receipt request, no server archive copy. */
export function submissionStanza(to: string, id: string, sealed: readonly Element[]): Element {
  return xml('message', { to, id, type: 'normal' }, ...sealed, xml('request', { xmlns: NS.receipts }), noPermanentStore());
}

/** The stanza id of a batch submission, from its first message id. */
export const batchStanzaId = (firstMessageId: string): string => `b-${firstMessageId}`;

/** What an answer to a submission says. `id` is a message id, or a batch's stanza id when the whole batch was refused. */
export type SubmissionReply =
  /** Committed to the recipient's archive: these message ids. */
  | { kind: 'stored'; ids: string[] }
  /** Refused by the vault (its refusals carry `<rejected/>`): final. */
  | { kind: 'refused'; id: string; error: AppError }
  /** The vault asked to wait (an error of type wait): send it again later; `error` holds its condition and text. */
  | { kind: 'wait'; id: string; condition: string; error: AppError }
  /**
   * Not the vault's answer: the XMPP server bounced the submission (e.g. recipient-unavailable
   * when the vault's session ended with it unread); it is sent again.
   */
  | { kind: 'bounced'; id: string; condition: string };

/** Reads a `<message>` as an answer to a submission; undefined when it is none (or is malformed). */
export function parseSubmissionReply(stanza: Element): SubmissionReply | undefined {
  if (!stanza.is('message')) return undefined;
  const received = stanza.getChild('received', NS.receipts);
  if (received !== undefined && stanza.attrs.type !== 'error') {
    const ids = storedIds(stanza);
    if (ids.length === 0 && typeof received.attrs.id === 'string') ids.push(received.attrs.id);
    return ids.length === 0 ? undefined : { kind: 'stored', ids };
  }
  if (stanza.attrs.type !== 'error') return undefined;
  const rejected = stanza.getChild('rejected', NS.sealed);
  const id: unknown = rejected?.attrs.id ?? stanza.attrs.id;
  const errorEl = stanza.getChild('error');
  if (typeof id !== 'string' || errorEl === undefined) return undefined;
  const se = StanzaError.fromElement(errorEl);
  if (rejected === undefined) return { kind: 'bounced', id, condition: se.condition };
  if (se.type === 'wait') return { kind: 'wait', id, condition: se.condition, error: fromStanzaError(se.condition, se.text) };
  return { kind: 'refused', id, error: fromStanzaError(se.condition, se.text) };
}
