// XMPP for the whole project: the only module importing xmpp.js. Connections (RFC 6120 client,
// XEP-0198 resumption, reconnect), the element builder, JID normalisation (RFC 7622, simplified),
// stanza errors (RFC 6120 §8.3).
export {
  connectXmpp,
  type IqContext,
  type IqHandler,
  type XmppConnection,
  type XmppConnectOptions,
  type XmppEvents,
} from './connection.js';
export { bareJid, parseJid, sameBareJid, type Jid } from '../jid/index.js';
export { NS_STANZAS, StanzaError, stanzaError, type StanzaErrorType } from './stanza-error.js';
export { Element, isElement, parseXml, parseXmlBounded, xml, type XmlBounds } from './xml.js';
