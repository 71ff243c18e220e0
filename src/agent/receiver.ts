// The receiving half of the SDK (issue 6, Recipient SDK): opens each delivery from the vault with
// every check of the keys module, hands it to the application's handler, and only when the handler
// has resolved records the message id and erases the one-time prekey, then sends the XEP-0184
// receipt. A crash or a throwing handler before that leaves the copy pending at the vault: it comes
// again, and the key it needs is still there. Deliveries are handled one at a time, in order.
// Durability is a group commit (issue 9): the next delivery goes to the handler while the key file
// is being written; each receipt waits until its id is on disk. Under a backlog the receipts go
// out together, several in one stanza (each copy still acknowledged by its own id).
//
// Refusals: a duplicate (message id already received) is acknowledged without reaching the app.
// A copy that can never open (malformed, bad signature, not for us, expired, unknown or used
// prekey) is acknowledged too, so it does not come back forever, and reported as `dropped`. A
// sender whose identity key changed is NOT acknowledged: the copy waits at the vault until the user
// accepts the new key (it comes again on a later presence). Other errors are not acknowledged.
import { EventEmitter } from 'node:events';
import { AppError, ErrorCode } from '../errors/index.js';
import { DEFAULT_WINDOW, type AgentKeyFile, type Limits, type NewDevicePolicy, type TrustStore } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { deliveriesFromStanza, deliveryReceipts, type DeliveredCopy } from '../protocol/index.js';
import type { Element, XmppConnection } from '../xmpp/index.js';
import { fingerprintCache, openDelivery, type OpenedDelivery, type ReceivedMessage } from './open-delivery.js';
import { fromVault } from './stanza-chain.js';

export type { ReceivedMessage } from './open-delivery.js';

/** Resolve to acknowledge; throw (or reject) to have the message delivered again later. */
export type MessageHandler = (message: ReceivedMessage) => void | Promise<void>;

export interface DroppedMessage {
  messageId: string | undefined;
  /** Claimed sender (the envelope's, unverified). */
  sender: string | undefined;
  error: AppError;
  /** True when a receipt was sent (the vault will not send it again). */
  acknowledged: boolean;
}

export interface ReceiverOptions {
  conn: XmppConnection;
  /** The vault's bare JID: only its deliveries are accepted. */
  vault: string;
  jid: string;
  device: number;
  keys: Pick<AgentKeyFile, 'keyring' | 'replay'> & { flushed?: AgentKeyFile['flushed'] };
  trust: TrustStore;
  /** A new device of a known contact: 'alert' (default) or 'refuse' until accepted. */
  newDevices?: NewDevicePolicy;
  /** Checks a sender key never seen against the directory's countersigned record. */
  vouch?: (jid: string, device: number, identityKey: Uint8Array) => Promise<void>;
  limits: Limits;
  logger: Logger;
  now?: () => number;
  /** Deliveries held while no handler is set; more are left for the vault to send again (default 1024). */
  maxQueued?: number;
}

/** What became of one copy: no receipt, or a receipt once `durable` resolves (its id is on disk). */
type Outcome = { ack: false } | { ack: true; id: string; durable: Promise<unknown> };

/** The copies of one delivery stanza: one receipt stanza for those taken, once all are settled. */
interface AckGroup {
  replyTo: string;
  left: number;
  outcomes: Outcome[];
}

interface Queued {
  copy: DeliveredCopy;
  group: AckGroup;
}

interface HeldReceipt {
  replyTo: string;
  id: string;
  durable: Promise<unknown>;
}

/** Copies per delivery stanza this receiver takes (announced to the vault). */
export const MAX_DELIVERY_BATCH = 64;

/** Receipts are held for one stanza while at least this many deliveries wait to be handled. */
const HOLD_WHILE_WAITING = 8;
/** Receipts in one stanza at most. */
const MAX_RECEIPTS = 64;

export class Receiver extends EventEmitter<{ dropped: [info: DroppedMessage] }> {
  private handler: MessageHandler | undefined;
  private readonly queue: Queued[] = [];
  private pumping: Promise<void> | undefined;
  private readonly acking = new Set<Promise<void>>();
  private readonly held: HeldReceipt[] = [];
  private closed = false;
  private readonly log: Logger;
  private readonly fingerprintOf = fingerprintCache();

  constructor(private readonly o: ReceiverOptions) {
    super();
    this.log = o.logger.child({ module: 'receiver' });
  }

  /** Sets (or clears) the application's handler; deliveries held so far are handed over. */
  setHandler(handler: MessageHandler | undefined): void {
    this.handler = handler;
    this.pump();
  }

  /** Takes a stanza if it is a delivery (single or batched) from the vault; returns true when it did. */
  handle(stanza: Element): boolean {
    if (typeof stanza.attrs.from !== 'string') return false;
    const copies = deliveriesFromStanza(stanza);
    if (copies === undefined || !fromVault(stanza, this.o.vault)) return false;
    if (this.closed) return true;
    if (this.queue.length + copies.length > (this.o.maxQueued ?? 1024)) {
      this.log.warn('too many deliveries waiting for the handler; the vault will send these again');
      return true;
    }
    const group: AckGroup = { replyTo: stanza.attrs.from, left: copies.length, outcomes: [] };
    for (const copy of copies) this.queue.push({ copy, group });
    this.pump();
    return true;
  }

  private pump(): void {
    if (this.pumping !== undefined || this.handler === undefined || this.closed) return;
    this.pumping = (async () => {
      for (let next = this.queue.shift(); next !== undefined && !this.closed; next = this.queue.shift()) {
        if (this.handler === undefined) {
          this.queue.unshift(next);
          break;
        }
        const outcome = await this.receive(next.copy, this.handler).catch((err: unknown): Outcome => {
          this.log.error({ error: (err as Error).message }, 'delivery handling failed');
          return { ack: false };
        });
        this.settle(next.group, outcome);
      }
    })().finally(() => {
      this.pumping = undefined;
      this.flushReceipts();
      if (this.queue.length > 0 && this.handler !== undefined && !this.closed) this.pump();
    });
  }

  /**
   * Records one copy's outcome. Once every copy of its stanza is settled, the receipts are due; they
   * go out at once, except while a backlog of deliveries waits (at least HOLD_WHILE_WAITING): then
   * they are held and sent together (up to MAX_RECEIPTS in one stanza), as each waits for its
   * key-file write anyway. A quiet stream gets each receipt as soon as it is durable.
   */
  private settle(group: AckGroup, outcome: Outcome): void {
    group.outcomes.push(outcome);
    if (--group.left > 0) return;
    for (const o of group.outcomes) if (o.ack) this.held.push({ replyTo: group.replyTo, id: o.id, durable: o.durable });
    if (this.queue.length >= HOLD_WHILE_WAITING && this.held.length < MAX_RECEIPTS && !this.closed) return;
    this.flushReceipts();
  }

  /** Sends the held receipts (one stanza per vault resource) once their ids are on disk. */
  private flushReceipts(): void {
    const held = this.held.splice(0);
    if (held.length === 0) return;
    const sending = (async () => {
      const ready = new Map<string, string[]>();
      for (const [i, r] of (await Promise.allSettled(held.map((h) => h.durable))).entries()) {
        const h = held[i] as HeldReceipt;
        if (r.status === 'rejected') {
          this.log.error({ error: (r.reason as Error).message }, 'key file not saved: no receipt, the vault sends it again');
          continue;
        }
        ready.set(h.replyTo, [...(ready.get(h.replyTo) ?? []), h.id]);
      }
      for (const [replyTo, ids] of ready) await this.o.conn.send(deliveryReceipts(replyTo, ids));
    })()
      .catch((err: unknown) => this.log.warn({ error: (err as Error).message }, 'receipt not sent; the vault sends the copy again'))
      .finally(() => this.acking.delete(sending));
    this.acking.add(sending);
  }

  private async receive(delivery: DeliveredCopy, handler: MessageHandler): Promise<Outcome> {
    const ack = (durable: Promise<unknown> = Promise.resolve()): Outcome => {
      if (delivery.id === undefined) {
        this.log.warn('delivery without an id: cannot acknowledge it');
        return { ack: false };
      }
      return { ack: true, id: delivery.id, durable };
    };
    const claimed = { id: delivery.sealed.attrs.id as unknown, from: delivery.sealed.attrs.from as unknown };

    let opened: OpenedDelivery;
    try {
      opened = await openDelivery(delivery, {
        me: { jid: this.o.jid, device: this.o.device },
        keys: this.o.keys,
        trust: this.o.trust,
        ...(this.o.newDevices === undefined ? {} : { newDevices: this.o.newDevices }),
        ...(this.o.vouch === undefined ? {} : { vouch: this.o.vouch }),
        limits: this.o.limits,
        ...(this.o.now === undefined ? {} : { now: this.o.now }),
        fingerprintOf: this.fingerprintOf,
      });
    } catch (err) {
      return this.refused(err, claimed, ack);
    }
    const message = opened.message;

    try {
      await handler(message);
    } catch (err) {
      this.log.warn({ messageId: message.messageId, error: (err as Error).message }, 'handler failed: no receipt, the vault sends it again');
      return { ack: false };
    }
    // The application has it: now remember the id and erase the one-time prekey (the copies handled
    // meanwhile share the key-file write), and acknowledge once that write is done.
    return ack(opened.commit());
  }

  private refused(err: unknown, claimed: { id: unknown; from: unknown }, ack: (durable?: Promise<unknown>) => Outcome): Outcome {
    const error = AppError.is(err) ? err : new AppError(ErrorCode.Internal, (err as Error).message ?? String(err), { cause: err });
    const messageId = typeof claimed.id === 'string' ? claimed.id.slice(0, 64) : undefined;
    const sender = typeof claimed.from === 'string' ? claimed.from.slice(0, 256) : undefined;
    if (error.code === ErrorCode.Replay) {
      this.log.debug({ messageId }, 'duplicate delivery dropped and acknowledged');
      // The first copy's id may still be on its way to disk: acknowledge once it is there.
      return ack(this.o.keys.flushed?.());
    }
    // A refusal no later attempt can turn into success (the error table's permanence) is acknowledged.
    const final = error.permanent;
    this.log.warn(
      { messageId, code: error.code, acknowledged: final, error: error.message.slice(0, 300) },
      final ? 'delivery refused and acknowledged: it can never open' : 'delivery refused; left for the vault to send again',
    );
    this.emit('dropped', { messageId, sender, error, acknowledged: final });
    return final ? ack() : { ack: false };
  }

  /**
   * Forgets remembered message ids older than the accepted window: such messages are refused as
   * expired anyway, and the key file (which holds the ids) stays small.
   */
  async prune(): Promise<void> {
    await this.o.keys.replay.prune((this.o.now ?? Date.now)() - DEFAULT_WINDOW.maxAgeMs);
  }

  /** Stops taking deliveries; waits for the one being handled and the receipts due. Held ones stay at the vault. */
  async close(): Promise<void> {
    this.closed = true;
    const dropped = this.queue.splice(0);
    await this.pumping;
    // Copies of a half-handled batch that were not reached: the ones handled still get their receipt.
    for (const q of dropped) this.settle(q.group, { ack: false });
    this.flushReceipts();
    await Promise.all(this.acking);
  }
}
