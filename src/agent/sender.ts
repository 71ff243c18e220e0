// The sending half of the SDK (issue "Ingest, store workers and the archive", SDK side): seal to
// the recipient's verified bundles (plus the recipient's and our own archive keys), keep the
// submission in the outbox, send it to the vault's bare JID with a XEP-0184 request, and resolve
// on the vault's receipt — sent only after the archive commit. Resends on reconnect and on a timer.
import { EventEmitter } from 'node:events';
import { AppError, ErrorCode } from '../errors/index.js';
import { envelopeToWire, ownArchiveTarget, seal, targetsFromBundles, type KeyRing, type Limits, type SealedEnvelope } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import {
  batchStanzaId,
  DEFAULT_MAX_STANZA_BYTES,
  envelopeToXml,
  NS,
  parseSubmissionReply,
  submissionStanza,
} from '../protocol/index.js';
import { bareJid, parseXml, type Element, type XmppConnection } from '../xmpp/index.js';
import { BundleCache } from './bundle-cache.js';
import type { DirectoryClient, FetchedBundle } from './directory-client.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { ResendPolicy } from './resend-policy.js';
import { fromVault } from './stanza-chain.js';
import { BatchIds, chunks, oversize, stanzaSized, SUBMIT_BATCH_ITEMS, takeBatch } from './submit-batch.js';
import type { VaultLink } from './vault-link.js';

export interface SendOptions {
  /** MIME type of the data (signed with it); default application/octet-stream or text/plain. */
  contentType?: string;
  /** The message id to use (a file's manifest is bound to its upload by it); default a fresh random one. */
  messageId?: string;
}

export interface SendResult {
  messageId: string;
}

export interface SenderOptions {
  conn: XmppConnection;
  link: VaultLink;
  directory: DirectoryClient;
  keyring: KeyRing;
  outbox: Outbox;
  limits: Limits;
  logger: Logger;
  /** How long fetched bundles are reused (their signed prekeys) before claiming again. */
  bundleCacheMs?: number;
  /** Unacknowledged submissions older than this are sent again. */
  resendAfterMs?: number;
  /** Resends of a message the vault refused with resource-constraint before send() rejects (default 4). */
  quotaRetries?: number;
  /** The XMPP server's stanza limit (Prosody's default 256 KiB): larger messages are refused before they are kept. */
  maxStanzaBytes?: number;
  now?: () => number;
}

interface Waiter {
  resolve: (r: SendResult) => void;
  reject: (e: Error) => void;
}

interface SendRequest extends Waiter {
  recipient: string;
  plaintext: Uint8Array;
  contentType: string;
  messageId?: string | undefined;
}

interface Sealed {
  request: SendRequest;
  envelope: SealedEnvelope;
}

interface Part {
  el: Element;
  entry: OutboxEntry;
}

export class Sender extends EventEmitter<{ receipt: [messageId: string]; refused: [messageId: string, error: AppError]; deferred: [messageId: string, error: AppError] }> {
  private readonly waiters = new Map<string, Waiter>();
  /** Sends waiting to be sealed, in call order. */
  private readonly queue: SendRequest[] = [];
  private pumping = false;
  private closed = false;
  /** The last batch's send: the next one goes after it. */
  private sendTail: Promise<void> = Promise.resolve();
  private readonly batches = new BatchIds();
  private readonly bundles: BundleCache;
  private readonly resends: ResendPolicy;
  private readonly now: () => number;

  constructor(private readonly o: SenderOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.bundles = new BundleCache({ directory: o.directory, ttlMs: o.bundleCacheMs ?? 30_000, now: this.now });
    this.resends = new ResendPolicy(o.resendAfterMs ?? 30_000, o.quotaRetries);
    this.resends.start((olderThanMs) => this.resend(olderThanMs));
  }

  /**
   * Seals `data` to `to`, stores it in the outbox, sends it; resolves on the vault's receipt.
   * Concurrent sends are coalesced (issue 9): they are sealed in call order, and those to one
   * recipient go out together in one submission stanza (at most SUBMIT_BATCH_ITEMS items and
   * about SUBMIT_BATCH_BYTES), written to the outbox with one fsync; each is acknowledged on its
   * own. Between batches the event loop runs, so sealing overlaps the sending and the receipts.
   */
  async send(to: string, data: Uint8Array | string, options: SendOptions = {}): Promise<SendResult> {
    const recipient = bareJid(to);
    const plaintext = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (plaintext.length > this.o.limits.maxPayloadBytes)
      throw new AppError(ErrorCode.ResourceLimit, `message of ${plaintext.length} bytes is over the ${this.o.limits.maxPayloadBytes}-byte limit`);
    if (this.closed) throw new AppError(ErrorCode.Unavailable, 'agent stopped');
    const contentType = options.contentType ?? (typeof data === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    return new Promise<SendResult>((resolve, reject) => {
      this.queue.push({ recipient, plaintext, contentType, messageId: options.messageId, resolve, reject });
      this.startPump();
    });
  }

  /** Sends many messages to one recipient; resolves when each has its receipt (see send). */
  sendMany(to: string, data: readonly (Uint8Array | string)[], options: SendOptions = {}): Promise<SendResult[]> {
    return Promise.all(data.map((d) => this.send(to, d, options)));
  }

  private startPump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pump()
      .catch((err: unknown) => this.o.logger.error({ error: (err as Error).message }, 'send pump failed'))
      .finally(() => {
        this.pumping = false;
        if (this.queue.length > 0 && !this.closed) this.startPump();
      });
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const recipient = (this.queue[0] as SendRequest).recipient;
      let fetched: FetchedBundle[];
      try {
        fetched = await this.bundles.get(recipient);
      } catch (err) {
        // Every send to this recipient waiting now would fail the same way.
        for (const r of takeBatch(this.queue, recipient, Number.POSITIVE_INFINITY)) r.reject(err as Error);
        continue;
      }
      const sealed: Sealed[] = [];
      for (const r of takeBatch(this.queue, recipient, SUBMIT_BATCH_ITEMS)) {
        try {
          sealed.push({ request: r, envelope: this.sealOne(recipient, fetched, r) });
        } catch (err) {
          r.reject(err as Error);
        }
      }
      // Cut by the real encoded size (many devices make large items), then send in order.
      for (const parts of stanzaSized(this.encode(recipient, sealed))) void this.dispatch(parts);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private sealOne(recipient: string, fetched: FetchedBundle[], r: SendRequest): SealedEnvelope {
    const now = this.now();
    const targets = targetsFromBundles(recipient, this.bundles.forOneMessage(recipient, fetched), now);
    const own = ownArchiveTarget(this.o.keyring.state);
    return seal({
      from: this.o.keyring.state.identity,
      to: recipient,
      devices: targets.devices,
      ...(targets.archive === undefined ? {} : { recipientArchive: targets.archive }),
      ...(own === undefined ? {} : { senderArchive: own }),
      plaintext: r.plaintext,
      contentType: r.contentType,
      ...(r.messageId === undefined ? {} : { messageId: r.messageId }),
      now: () => now,
      limits: this.o.limits,
    });
  }

  /** The wire forms of sealed messages: the sealed element, and the entry (its own stanza) for the outbox. */
  private encode(recipient: string, sealed: readonly Sealed[]): Part[] {
    const now = this.now();
    const parts: Part[] = [];
    for (const { request: r, envelope } of sealed) {
      const el = envelopeToXml(envelopeToWire(envelope));
      // Offline storage at the server may keep a submission while the vault is down; its archive not.
      const stanza = submissionStanza(this.o.link.bare, envelope.messageId, [el]).toString();
      const tooLarge = oversize(stanza, envelope.blocks.length, this.o.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES);
      if (tooLarge !== undefined) {
        r.reject(tooLarge);
        continue;
      }
      this.waiters.set(envelope.messageId, { resolve: r.resolve, reject: r.reject });
      parts.push({ el, entry: { messageId: envelope.messageId, recipient, stanza, createdAt: now } });
    }
    return parts;
  }

  /** Writes the batch to the outbox (one file, one fsync), then sends it as one stanza. */
  private async dispatch(parts: readonly Part[]): Promise<void> {
    // Outbox writes of several batches may overlap; the stanzas go out in the order the batches
    // were sealed (per-recipient order, invariant 3).
    const written = this.o.outbox.putMany(parts.map((p) => p.entry));
    const previous = this.sendTail;
    const turn = (async () => {
      try {
        await written;
      } catch (err) {
        for (const p of parts) {
          this.waiters.get(p.entry.messageId)?.reject(err as Error);
          this.waiters.delete(p.entry.messageId);
        }
        return;
      } finally {
        await previous;
      }
      const ids = parts.map((p) => p.entry.messageId);
      await this.sendStanza(ids.length === 1 ? parseXml((parts[0] as Part).entry.stanza) : this.batchStanza(ids, parts.map((p) => p.el)), ids);
    })();
    this.sendTail = turn.catch(() => undefined);
    await turn;
  }

  private batchStanza(ids: readonly string[], sealed: readonly Element[]): Element {
    const id = batchStanzaId(ids[0] as string);
    this.batches.add(id, ids);
    return submissionStanza(this.o.link.bare, id, sealed);
  }

  private async sendStanza(stanza: Element, ids: readonly string[]): Promise<void> {
    await this.o.conn.send(stanza).catch((err: unknown) => {
      // Not lost: the outbox resends it once the connection is back.
      this.o.logger.warn({ messages: ids.length, first: ids[0], error: (err as Error).message }, 'send failed; kept in the outbox');
    });
  }

  /** Resends outbox entries (all, or those older than `olderThanMs`), batched per recipient. */
  async resend(olderThanMs = 0): Promise<number> {
    if (this.o.conn.status !== 'online') return 0;
    const due = this.resends.due(this.o.outbox.list(), olderThanMs, this.now());
    const byRecipient = new Map<string, OutboxEntry[]>();
    for (const e of due) byRecipient.set(e.recipient, [...(byRecipient.get(e.recipient) ?? []), e]);
    for (const entries of byRecipient.values())
      for (const chunk of chunks(entries)) {
        const stanzas = chunk.map((e) => parseXml(e.stanza));
        const sealed = stanzas.map((st) => st.getChild('sealed', NS.sealed));
        if (chunk.length === 1 || sealed.some((x) => x === undefined)) {
          for (const st of stanzas) await this.o.conn.send(st);
          continue;
        }
        await this.o.conn.send(this.batchStanza(chunk.map((e) => e.messageId), sealed as Element[]));
      }
    return due.length;
  }

  /** Feeds the sender every stanza; returns true when it was a receipt or refusal for us. */
  handle(stanza: Element): boolean {
    if (!fromVault(stanza, this.o.link.bare)) return false; // only the vault may acknowledge
    const reply = parseSubmissionReply(stanza);
    switch (reply?.kind) {
      case undefined:
        return false;
      case 'stored':
        for (const id of reply.ids) this.settle(id, undefined);
        return true;
      case 'bounced':
        // It stays in the outbox and goes again (invariant 2).
        this.o.logger.info({ stanzaId: reply.id, condition: reply.condition }, 'submission bounced by the XMPP server; will resend');
        return true;
      case 'wait':
        // The recipient's quota: told to the application, resent later and later, then given up (issue 14).
        if (this.resends.waited(reply.id, reply.condition, this.now()) === 'give-up') this.settle(reply.id, reply.error);
        else if (reply.condition === 'resource-constraint') this.emit('deferred', reply.id, reply.error);
        return true;
      case 'refused':
        // A refusal of a whole batch stanza (before its items were looked at) settles every item.
        for (const m of this.batches.members(reply.id)) this.settle(m, reply.error);
        return true;
    }
  }

  private settle(messageId: string, error: AppError | undefined): void {
    this.o.outbox.remove(messageId);
    this.resends.forget(messageId);
    const w = this.waiters.get(messageId);
    this.waiters.delete(messageId);
    this.batches.settled(messageId);
    if (error === undefined) {
      w?.resolve({ messageId });
      this.emit('receipt', messageId);
    } else {
      w?.reject(error);
      this.emit('refused', messageId, error);
    }
  }

  close(): void {
    this.closed = true;
    this.resends.stop();
    for (const r of this.queue.splice(0)) r.reject(new AppError(ErrorCode.Unavailable, 'agent stopped before the message was sealed'));
    for (const [id, w] of this.waiters) w.reject(new AppError(ErrorCode.Unavailable, `agent stopped before the receipt for ${id}; it stays in the outbox`));
    this.waiters.clear();
  }
}
