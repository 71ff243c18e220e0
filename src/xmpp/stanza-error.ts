// Stanza errors (RFC 6120 §8.3): the one error class callers see for an IQ answered with
// type='error', and a builder for error replies, so no other module needs xmpp.js's classes.
import { xml, type Element } from './xml.js';

export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** RFC 6120 §8.3.2 error types. */
export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

export class StanzaError extends Error {
  override readonly name = 'StanzaError';

  constructor(
    /** Defined condition (RFC 6120 §8.3.3), e.g. `item-not-found`. */
    readonly condition: string,
    readonly type: StanzaErrorType | undefined,
    /** Human-readable text, when the server sent one (never a stanza body). */
    readonly text: string | undefined,
  ) {
    super(text ? `${condition} - ${text}` : condition);
  }

  /** From an `<error/>` child (RFC 6120 §8.3.2: first child is the condition). */
  static fromElement(error: Element): StanzaError {
    const children = error.getChildElements();
    const condition = children.find((c) => c.attrs.xmlns === NS_STANZAS && c.name !== 'text')?.name ?? 'undefined-condition';
    const text = error.getChildText('text', NS_STANZAS) ?? undefined;
    const type = error.attrs.type as StanzaErrorType | undefined;
    return new StanzaError(condition, type, text === '' ? undefined : text);
  }
}

/** An `<error/>` element: return it from an IQ handler to answer type='error'. */
export function stanzaError(type: StanzaErrorType, condition: string, text?: string): Element {
  const error = xml('error', { type }, xml(condition, { xmlns: NS_STANZAS }));
  if (text !== undefined) error.append(xml('text', { xmlns: NS_STANZAS }, text));
  return error;
}
