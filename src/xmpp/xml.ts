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
