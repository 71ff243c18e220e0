// The XML element builder and type (ltx, through @xmpp/xml). Everything else in the project
// builds and reads stanzas through these, never through xmpp.js directly.
import xmlBuilder, { Element } from '@xmpp/xml';

export { Element };

/** Builds an element: `xml('message', { to }, xml('body', {}, text))`. */
export const xml: typeof xmlBuilder = xmlBuilder;

/** True when `value` is an XML element (for narrowing unknown handler results). */
export function isElement(value: unknown): value is Element {
  return value instanceof Element;
}
