// XEP-0030 service discovery for the vault's full JID: who it is and which sealpost surfaces and
// standards it answers, so an agent can check the service before it publishes keys or submits.
import { MAM_EXTENDED, NS, NS_ARCHIVE } from '../protocol/index.js';
import { xml, type Element, type XmppConnection } from '../xmpp/index.js';

/** Features and XEP-0128 forms other surfaces add (the upload service, issue 17). */
export interface DiscoExtension {
  features: readonly string[];
  /** Built per reply (an element has one parent). */
  form?: () => Element;
}

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

export interface DiscoOptions {
  conn: XmppConnection;
  /** The identity's name (default 'sealpost vault'). */
  name?: string;
  /** Features and forms of other surfaces (the upload service). */
  extensions?: readonly DiscoExtension[];
}

export function registerDisco({ conn, name = 'sealpost vault', extensions = [] }: DiscoOptions): { close(): void } {
  const off = conn.iqCallee.get(NS.discoInfo, 'query', () =>
    xml(
      'query',
      { xmlns: NS.discoInfo },
      xml('identity', { category: 'store', type: 'sealpost', name }),
      ...VAULT_FEATURES.map((v) => xml('feature', { var: v })),
      ...extensions.flatMap((e) => e.features.map((v) => xml('feature', { var: v }))),
      ...extensions.flatMap((e) => (e.form === undefined ? [] : [e.form()])),
    ),
  );
  return { close: off };
}
