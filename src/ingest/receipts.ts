// Delivery receipts (design.md "XMPP surfaces": Delivery; XEP-0184): a recipient's receipt, or one
// stanza with the receipts for a whole delivery batch, ends the delivery of those copies. Parsed
// here (protocol's parser) from the stamped full JID, then handed to the delivery side as one
// call, so a batch is recorded in one archive commit.
import type { Logger } from '../log/index.js';
import { parseDeliveryReceipts } from '../protocol/index.js';
import type { XmppConnection } from '../xmpp/index.js';

/** Where parsed receipts go (the service's delivery). */
export interface ReceiptSink {
  receipt(r: { jid: string; resource: string; sender: string; messageId: string }): Promise<unknown>;
  receipts(r: { jid: string; resource: string; receipts: readonly { sender: string; messageId: string }[] }): Promise<unknown>;
}

export interface ReceiptsOptions {
  conn: Pick<XmppConnection, 'on'>;
  delivery: ReceiptSink;
  logger: Logger;
}

export function registerReceipts({ conn, delivery, logger }: ReceiptsOptions): { close(): void } {
  const log = logger.child({ module: 'receipts' });
  const off = conn.on('stanza', (stanza) => {
    const rs = parseDeliveryReceipts(stanza);
    const first = rs[0];
    if (first === undefined) return;
    const from = { jid: first.from.bare, resource: first.from.resource };
    (rs.length === 1
      ? delivery.receipt({ ...from, sender: first.sender, messageId: first.messageId })
      : delivery.receipts({ ...from, receipts: rs.map((r) => ({ sender: r.sender, messageId: r.messageId })) })
    ).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'receipt handling failed'));
  });
  return { close: off };
}
