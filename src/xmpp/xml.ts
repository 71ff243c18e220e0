// The XML element builder and type (ltx, through @xmpp/xml). Everything else in the project
// builds and reads stanzas through these, never through xmpp.js directly.
import xmlBuilder, { Element } from '@xmpp/xml';
// @ts-expect-error -- @xmpp/xml ships no types for its parse helper (lib/parse.js: (text) => Element)
import parseImpl from '@xmpp/xml/lib/parse.js';

export { Element };

/** Builds an element: `xml('message', { to }, xml('body', {}, text))`. */
export const xml: typeof xmlBuilder = xmlBuilder;

/** True when `value` is an XML element (for narrowing unknown handler results). */
export function isElement(value: unknown): value is Element {
  return value instanceof Element;
}

/** Parses one XML element from text (e.g. a stanza kept in a file); throws on malformed input. */
export function parseXml(text: string): Element {
  const parsed: unknown = parseImpl(text);
  if (!(parsed instanceof Element)) throw new TypeError('parseXml: no element in the input');
  return parsed;
}
