// Protected stanzas (issue 18, part 3; the seeds' "e2e encrypted data stanza simply containing a
// standard XMPP stanza"): an XML element sealed as an ordinary message under a content type of its
// own, so the wrapper carries nothing of it. Bounded in size, depth and element count both ways.
// The sender is the one of the signed header: a stanza inside that names anyone else is refused.
import { AppError, ErrorCode } from '../errors/index.js';
import { bareJid, isElement, parseXmlBounded, type Element } from '../xmpp/index.js';

/** Content type of a sealed XML element (UTF-8 XML text of one element). */
export const PROTECTED_STANZA_TYPE = 'application/vnd.sealpost.stanza+xml';

/** Bounds of a protected stanza, checked by the sender and again by the recipient. */
export const PROTECTED_STANZA_LIMITS = Object.freeze({ maxBytes: 64 * 1024, maxDepth: 32, maxElements: 4096 });

/** RFC 6120 stanza names: their `from` is a sender claim wherever they appear (XEP-0297 forwards too). */
const STANZAS = new Set(['message', 'presence', 'iq']);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function bareOf(jid: string, what: string): string {
  try {
    return bareJid(jid);
  } catch {
    throw new AppError(ErrorCode.BadInput, `protected stanza: ${what} is not a valid JID`);
  }
}

/**
 * Refuses a stanza whose claims disagree with the verified envelope: the `from` of the root and of
 * every stanza inside it must be the sender's (bare) JID; the root's `to`, when present, the
 * recipient's. A forwarded stanza of someone else cannot travel protected: its claim is unchecked.
 */
export function checkStanzaClaims(root: Element, who: { sender: string; recipient: string }): void {
  const sender = bareJid(who.sender);
  const stack: Element[] = [root];
  for (let el = stack.pop(); el !== undefined; el = stack.pop()) {
    const from: unknown = el.attrs.from;
    if ((el === root || STANZAS.has(el.name)) && from !== undefined) {
      if (typeof from !== 'string' || bareOf(from, `<${el.name}> from`) !== sender)
        throw new AppError(ErrorCode.Forbidden, `protected stanza: <${el.name}> claims another sender than ${sender}, who sealed it`);
    }
    for (const child of el.getChildElements()) stack.push(child);
  }
  const to: unknown = root.attrs.to;
  if (to !== undefined && (typeof to !== 'string' || bareOf(to, `<${root.name}> to`) !== bareJid(who.recipient)))
    throw new AppError(ErrorCode.Forbidden, `protected stanza: <${root.name}> is addressed to another recipient`);
}

function parse(text: string): Element {
  try {
    return parseXmlBounded(text, PROTECTED_STANZA_LIMITS);
  } catch (err) {
    const limit = err instanceof RangeError;
    throw new AppError(limit ? ErrorCode.ResourceLimit : ErrorCode.BadInput, `protected stanza: ${(err as Error).message}`, { cause: err });
  }
}

/** The sender's side: checks the element (bounds, claims) and returns the bytes to seal. */
export function encodeProtectedStanza(element: Element, who: { sender: string; recipient: string }): Uint8Array {
  if (!isElement(element)) throw new TypeError('sendStanza: element must be an XML element (xml(...))');
  const bytes = encoder.encode(element.toString());
  if (bytes.length > PROTECTED_STANZA_LIMITS.maxBytes)
    throw new AppError(ErrorCode.ResourceLimit, `protected stanza of ${bytes.length} bytes: at most ${PROTECTED_STANZA_LIMITS.maxBytes}`);
  // What the recipient will parse, checked here as it will be there (depth, count, claims).
  checkStanzaClaims(parse(element.toString()), who);
  return bytes;
}

/**
 * The recipient's side, on an opened and verified message of PROTECTED_STANZA_TYPE: the element,
 * or a permanent AppError (the copy can never become acceptable).
 */
export function decodeProtectedStanza(data: Uint8Array, who: { sender: string; recipient: string }): Element {
  if (data.length > PROTECTED_STANZA_LIMITS.maxBytes)
    throw new AppError(ErrorCode.ResourceLimit, `protected stanza of ${data.length} bytes: at most ${PROTECTED_STANZA_LIMITS.maxBytes}`);
  let text: string;
  try {
    text = decoder.decode(data);
  } catch (cause) {
    throw new AppError(ErrorCode.BadInput, 'protected stanza: not UTF-8', { cause });
  }
  const element = parse(text);
  checkStanzaClaims(element, who);
  return element;
}
