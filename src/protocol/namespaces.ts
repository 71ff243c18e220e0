// XML namespaces of sealpost's XMPP surfaces and of the standards it reuses (design: "XMPP surfaces").
import { xml, type Element } from '../xmpp/index.js';

export const NS = {
  /** Service feature and presence announcement. */
  sealpost: 'urn:sealpost:1',
  /** Key directory IQs: publish, fetch (claim), count, remove; replenish notices. */
  keys: 'urn:sealpost:keys:1',
  /** The sealed item carried by submissions and deliveries. */
  sealed: 'urn:sealpost:sealed:1',
  /** XEP-0184 message delivery receipts. */
  receipts: 'urn:xmpp:receipts',
  /** XEP-0334 message processing hints. */
  hints: 'urn:xmpp:hints',
  /** XEP-0203 delayed delivery. */
  delay: 'urn:xmpp:delay',
  /** XEP-0297 stanza forwarding. */
  forward: 'urn:xmpp:forward:0',
  /** XEP-0313 message archive management. */
  mam: 'urn:xmpp:mam:2',
  /** XEP-0059 result set management. */
  rsm: 'http://jabber.org/protocol/rsm',
  /** XEP-0004 data forms. */
  dataForms: 'jabber:x:data',
  /** XEP-0030 service discovery. */
  discoInfo: 'http://jabber.org/protocol/disco#info',
  /** XEP-0363 HTTP File Upload (slot requests). */
  upload: 'urn:xmpp:http:upload:0',
  /** sealpost's addition to a slot request: the recipient and the manifest's message id (issue 17). */
  files: 'urn:sealpost:files:1',
  /** RFC 6120 §8.3 stanza error conditions. */
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
} as const;

/**
 * XEP-0334 `<no-permanent-store/>`: the server may keep the stanza for offline delivery but must
 * not archive it. sealpost's protocol stanzas (submissions, receipts) carry ciphertext that the
 * vault archives itself; a second copy in the server's MAM would outlive retention and shredding.
 */
export function noPermanentStore(): Element {
  return xml('no-permanent-store', { xmlns: NS.hints });
}
