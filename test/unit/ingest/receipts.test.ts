// Where a device's delivery receipts are recorded with worker nodes (issue 15): a receipt goes to
// the full JID that sent the copy, so it can reach a node that lost the user's shard since, or
// (a killed node's) the ingest at the vault's bare JID. The process that holds the shard records
// it; any other forwards it to the shard's owner, which records it as if it had arrived there.
import { describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { isForwardedReceipts, recordReceipts, registerReceipts, type ReceiptSink } from '../../../src/ingest/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { deliveryReceipts, deliveryStanzaId } from '../../../src/protocol/index.js';
import type { Element, XmppConnection } from '../../../src/xmpp/index.js';

const BOB = 'bob@example.org/phone';
const ALICE = 'alice@example.org';

function connection() {
  let handler: ((s: Element) => void) | undefined;
  const on = ((_event: 'stanza', fn: (s: Element) => void) => {
    handler = fn;
    return () => void (handler = undefined);
  }) as Pick<XmppConnection, 'on'>['on'];
  return {
    on,
    receive(ids: string[]) {
      const stanza = deliveryReceipts('vault@example.org/w1', ids.map((id) => deliveryStanzaId(ALICE, id)));
      stanza.attrs.from = BOB;
      handler?.(stanza);
    },
  };
}

/** A delivery side that records receipts, or refuses them as a node without the shard does. */
function sink(refuse?: AppError) {
  const got: string[] = [];
  const take = (who: { jid: string; resource: string }, ids: string[]): Promise<unknown> => {
    if (refuse !== undefined) return Promise.reject(refuse);
    got.push(`${who.jid}/${who.resource}: ${ids.join(',')}`);
    return Promise.resolve([]);
  };
  const s: ReceiptSink & { got: string[] } = {
    got,
    receipt: (r) => take(r, [r.messageId]),
    receipts: (r) => take(r, r.receipts.map((x) => x.messageId)),
  };
  return s;
}

/** A request bus whose shard owner records what it is sent (owner: recordReceipts on its sink). */
function bus(owner: ReceiptSink, failFirst = 0) {
  const sent: { shard: number; payload: unknown }[] = [];
  return {
    sent,
    async request(shard: number, payload: unknown): Promise<unknown> {
      sent.push({ shard, payload });
      if (sent.length <= failFirst) throw new AppError(ErrorCode.Unavailable, 'owner failed: lease expired');
      if (!isForwardedReceipts(payload)) throw new AppError(ErrorCode.BadInput, 'not receipts');
      return recordReceipts(payload, owner);
    },
  };
}

describe('delivery receipts with worker nodes', () => {
  it('records a receipt for a shard held here, without forwarding it', async () => {
    const conn = connection();
    const here = sink();
    const owner = sink();
    const b = bus(owner);
    registerReceipts({ conn, delivery: here, route: { bus: b, shardOf: () => 3 }, logger: silentLogger() });
    conn.receive(['m1', 'm2']);
    await expect.poll(() => here.got).toEqual([`${BOB}: m1,m2`]);
    expect(b.sent).toEqual([]);
  });

  it('forwards a receipt this node cannot record (its shard is gone or fenced) to the shard owner, which records it', async () => {
    const conn = connection();
    const here = sink(new AppError(ErrorCode.Unavailable, 'shard 3: not written (lease expired); its owner will do it'));
    const owner = sink();
    const b = bus(owner);
    registerReceipts({ conn, delivery: here, route: { bus: b, shardOf: () => 3 }, logger: silentLogger() });
    conn.receive(['m1']);
    conn.receive(['m2', 'm3']);
    await expect.poll(() => owner.got).toEqual([`${BOB}: m1`, `${BOB}: m2,m3`]);
    expect(b.sent.map((s) => s.shard)).toEqual([3, 3]);
  });

  it('at the ingest (no delivery side: a killed node\'s receipts reach the bare JID), forwards every receipt, trying again while a refusal comes first', async () => {
    const conn = connection();
    const owner = sink();
    const b = bus(owner, 1);
    registerReceipts({ conn, route: { bus: b, shardOf: () => 5 }, logger: silentLogger(), retryMs: 5 });
    conn.receive(['m1']);
    await expect.poll(() => owner.got).toEqual([`${BOB}: m1`]);
    expect(b.sent).toHaveLength(2);
  });

  it('does not forward what failed for another reason, and refuses a forwarded request that is not receipts', async () => {
    const conn = connection();
    const here = sink(new AppError(ErrorCode.BadInput, 'bad'));
    const owner = sink();
    const b = bus(owner);
    registerReceipts({ conn, delivery: here, route: { bus: b, shardOf: () => 3 }, logger: silentLogger() });
    conn.receive(['m1']);
    await new Promise((r) => setTimeout(r, 20));
    expect(b.sent).toEqual([]);
    expect(isForwardedReceipts({ kind: 'receipts', from: BOB, receipts: [] })).toBe(false);
    expect(isForwardedReceipts({ kind: 'receipts', from: BOB, receipts: [{ sender: ALICE }] })).toBe(false);
    await expect(recordReceipts({ kind: 'receipts', from: 'bob@example.org', receipts: [{ sender: ALICE, messageId: 'm1' }] }, owner)).rejects.toThrow(/full JID/);
  });
});
