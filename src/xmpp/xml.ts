// The XML element builder and type (ltx, through @xmpp/xml). Everything else in the project
// builds and reads stanzas through these, never through xmpp.js directly.
import xmlBuilder, { Element, Parser } from '@xmpp/xml';

export { Element };

/** Builds an element: `xml('message', { to }, xml('body', {}, text))`. */
export const xml: typeof xmlBuilder = xmlBuilder;

/** True when `value` is an XML element (for narrowing unknown handler results). */
export function isElement(value: unknown): value is Element {
  return value instanceof Element;
}

/**
 * Parses one complete XML element from text (e.g. a stanza kept in a file) with xmpp.js's
 * stream parser; throws on malformed or incomplete input. Text must be trusted to be small.
 */
export function parseXml(text: string): Element {
  const parser = new Parser();
  let root: Element | undefined;
  let closed = false;
  let error: Error | undefined;
  parser.on('start', (el: Element) => (root = el));
  parser.on('element', (el: Element) => root?.append(el));
  parser.on('end', () => (closed = true));
  parser.on('error', (err: Error) => (error ??= err));
  parser.write(text);
  parser.end('');
  if (error !== undefined) throw error;
  if (root === undefined || !closed) throw new TypeError('parseXml: no complete element in the input');
  return root;
}

/** Bounds for XML from outside (the content of a protected stanza, issue 18 part 3). */
export interface XmlBounds {
  /** Nesting depth at most (the root is depth 1). */
  maxDepth: number;
  /** Elements in all at most. */
  maxElements: number;
}

/**
 * Parses one complete element from untrusted text, refusing (RangeError) past `bounds` while
 * parsing, before a deep or wide tree is built, and (TypeError) malformed input, text outside the
 * root or a second root. The text's size is the caller's to bound. ltx knows no DTDs: no entity
 * but the five predefined ones and character references is expanded.
 */
export function parseXmlBounded(text: string, bounds: XmlBounds): Element {
  const parser = new Parser();
  // @xmpp/xml's Parser drives an ltx parser whose events come first (listeners run in order).
  const ltx = (parser as unknown as { parser: { on(event: string, listener: (...args: unknown[]) => void): void } }).parser;
  let depth = 0;
  let elements = 0;
  let root: Element | undefined;
  let closed = false;
  let error: Error | undefined;
  ltx.on('startElement', () => {
    if (closed) throw new TypeError('xml: a second element after the root');
    if (++depth > bounds.maxDepth) throw new RangeError(`xml: nested deeper than ${bounds.maxDepth}`);
    if (++elements > bounds.maxElements) throw new RangeError(`xml: more than ${bounds.maxElements} elements`);
  });
  ltx.on('endElement', () => void depth--);
  ltx.on('text', (t: unknown) => {
    if (depth === 0 && typeof t === 'string' && t.trim() !== '') throw new TypeError('xml: text outside the root element');
  });
  parser.on('start', (el: Element) => (root = el));
  parser.on('element', (el: Element) => root?.append(el));
  parser.on('end', () => (closed = true));
  parser.on('error', (err: Error) => (error ??= err));
  // ltx holds text until the next tag: text after the root would never be seen.
  if (!/>\s*$/.test(text)) throw new TypeError('xml: text after the root element');
  parser.write(text);
  if (error !== undefined) throw new TypeError(`xml: ${error.message}`);
  if (root === undefined || !closed) throw new TypeError('xml: no complete element in the input');
  return root;
}
