// XEP-0030 service discovery for the vault's full JID: who it is and which sealpost surfaces and
// standards it answers, so an agent can check the service before it publishes keys or submits.
import { MAM_EXTENDED, NS, NS_ARCHIVE } from '../protocol/index.js';
import { xml, type XmppConnection } from '../xmpp/index.js';

export const VAULT_FEATURES: readonly string[] = [
  NS.discoInfo,
  NS.sealpost,
  NS.keys,
  NS.sealed,
  NS.receipts,
  NS.delay,
  NS.mam,
  MAM_EXTENDED,
  NS.rsm,
  NS_ARCHIVE,
];

export function registerDisco(conn: XmppConnection, name = 'sealpost vault'): void {
  conn.iqCallee.get(NS.discoInfo, 'query', () =>
    xml(
      'query',
      { xmlns: NS.discoInfo },
      xml('identity', { category: 'store', type: 'sealpost', name }),
      ...VAULT_FEATURES.map((v) => xml('feature', { var: v })),
    ),
  );
}
