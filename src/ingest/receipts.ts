// Delivery receipts (design.md "XMPP surfaces": Delivery; XEP-0184): a recipient's receipt, or one
// stanza with the receipts for a whole delivery batch, ends the delivery of those copies. Parsed
// here (protocol's parser) from the stamped full JID, then handed to the delivery side as one
// call, so a batch is recorded in one archive commit.
//
// With worker nodes (issue 15) a receipt goes back to the full JID that sent the copy: a node
// that has lost the user's shard since (a pause past its lease, a move) gets it, and a killed
// node's receipts reach the vault's bare JID, the ingest. Such a receipt is forwarded to the
// shard's owner over the request bus (as presence is), which records it and signals its running
// job; dropped, the copies were sent again after the receipt timeout only to be acknowledged again.
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { MAX_BATCH_ITEMS, parseDeliveryReceipts } from '../protocol/index.js';
import { bareJid, parseJid, type XmppConnection } from '../xmpp/index.js';

/** Where parsed receipts go (the service's delivery). */
export interface ReceiptSink {
  receipt(r: { jid: string; resource: string; sender: string; messageId: string }): Promise<unknown>;
  receipts(r: { jid: string; resource: string; receipts: readonly { sender: string; messageId: string }[] }): Promise<unknown>;
}

/** The receipts of one stanza, forwarded to the owner of the user's shard. */
export interface ForwardedReceipts {
  kind: 'receipts';
  /** The stamped full JID of the device's session. */
  from: string;
  receipts: { sender: string; messageId: string }[];
}

export function isForwardedReceipts(p: unknown): p is ForwardedReceipts {
  const f = p as Partial<ForwardedReceipts> | null;
  return (
    typeof f === 'object' &&
    f !== null &&
    f.kind === 'receipts' &&
    typeof f.from === 'string' &&
    Array.isArray(f.receipts) &&
    f.receipts.length > 0 &&
    f.receipts.length <= MAX_BATCH_ITEMS &&
    f.receipts.every((r: unknown) => typeof r === 'object' && r !== null && typeof (r as { sender?: unknown }).sender === 'string' && typeof (r as { messageId?: unknown }).messageId === 'string')
  );
}

/** The request bus to shard owners, as the ingest and worker nodes have it. */
export interface ReceiptRoute {
  bus: { request(shard: number, payload: unknown, timeoutMs?: number): Promise<unknown> };
  shardOf(jid: string): number;
}

export interface ReceiptsOptions {
  conn: Pick<XmppConnection, 'on'>;
  /** Records receipts here (a process with worker roles); none: every receipt is forwarded (an ingest). */
  delivery?: ReceiptSink;
  /** Worker nodes and ingest: a receipt this process cannot record goes to the shard's owner. */
  route?: ReceiptRoute;
  logger: Logger;
  /** Pause between forwarding tries (default 1 s). */
  retryMs?: number;
}

/**
 * A forwarded receipt waits this long for an answer, and is tried this often a second apart (a
 * node that lost the shard may still be subscribed to its requests for a moment, and answer with
 * a refusal first); then it is dropped: the owner sends the copy again, and it is acknowledged again.
 */
const FORWARD_TIMEOUT_MS = 10_000;
const FORWARD_TRIES = 3;

export function registerReceipts({ conn, delivery, route, logger, retryMs = 1_000 }: ReceiptsOptions): { close(): void } {
  const log = logger.child({ module: 'receipts' });
  const forward = async (p: ForwardedReceipts): Promise<void> => {
    if (route === undefined) throw new AppError(ErrorCode.Unavailable, 'receipt not recorded here and no route to its owner');
    const shard = route.shardOf(bareJid(p.from));
    for (let n = 1; ; n++) {
      try {
        await route.bus.request(shard, p, FORWARD_TIMEOUT_MS);
        return;
      } catch (err) {
        if (n >= FORWARD_TRIES) throw err;
        await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
      }
    }
  };
  const off = conn.on('stanza', (stanza) => {
    const rs = parseDeliveryReceipts(stanza);
    const first = rs[0];
    if (first === undefined) return;
    const p: ForwardedReceipts = {
      kind: 'receipts',
      from: `${first.from.bare}/${first.from.resource}`,
      receipts: rs.map((r) => ({ sender: r.sender, messageId: r.messageId })),
    };
    const handled =
      delivery === undefined
        ? forward(p)
        : recordReceipts(p, delivery).catch((err: unknown) => {
            // Not this process's shard (any more): its owner records it.
            if (route !== undefined && AppError.is(err, ErrorCode.Unavailable)) return forward(p);
            throw err;
          });
    handled.catch((err: unknown) => log.warn({ error: (err as Error).message }, 'receipt handling failed'));
  });
  return { close: off };
}

/** Records the receipts of one stanza (a shard's owner answering a forwarded one, or locally). */
export async function recordReceipts(p: ForwardedReceipts, delivery: ReceiptSink): Promise<true> {
  const from = parseJid(p.from);
  if (from.resource === undefined) throw new AppError(ErrorCode.BadInput, 'forwarded receipts without the full JID');
  const who = { jid: from.bare, resource: from.resource };
  const [only] = p.receipts;
  if (p.receipts.length === 1 && only !== undefined) await delivery.receipt({ ...who, ...only });
  else await delivery.receipts({ ...who, receipts: p.receipts });
  return true;
}
