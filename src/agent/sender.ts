// The sending half of the SDK (issue "Ingest, store workers and the archive", SDK side): seal to
// the recipient's verified bundles (plus the recipient's and our own archive keys), keep the
// submission in the outbox, send it to the vault's bare JID with a XEP-0184 request, and resolve
// on the vault's receipt — sent only after the archive commit. Resends on reconnect and on a timer.
import { EventEmitter } from 'node:events';
import { AppError, ErrorCode } from '../errors/index.js';
import { envelopeToWire, ownArchiveTarget, seal, targetsFromBundles, type KeyRing, type Limits, type SealedEnvelope } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { DEFAULT_MAX_STANZA_BYTES, envelopeToXml, fromStanzaError, maxItemBytes, noPermanentStore, NS, storedIds } from '../protocol/index.js';
import { bareJid, parseXml, StanzaError, xml, type Element, type XmppConnection } from '../xmpp/index.js';
import type { DirectoryClient, FetchedBundle } from './directory-client.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { chunks, estimatedSize, SUBMIT_BATCH_BYTES, SUBMIT_BATCH_ITEMS } from './submit-batch.js';
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

export class Sender extends EventEmitter<{ receipt: [messageId: string]; refused: [messageId: string, error: AppError] }> {
  private readonly waiters = new Map<string, Waiter>();
  /** Per unacknowledged message: when the timer last sent it again, and the wait before the next time. */
  private readonly resent = new Map<string, { at: number; gap: number }>();
  /** Sends waiting to be sealed, in call order. */
  private readonly queue: SendRequest[] = [];
  private pumping = false;
  private closed = false;
  /** The last batch's send: the next one goes after it. */
  private sendTail: Promise<void> = Promise.resolve();
  /** Batch stanza id → its message ids, and back (a refusal of the whole stanza settles them all). */
  private readonly batches = new Map<string, readonly string[]>();
  private readonly batchOf = new Map<string, string>();
  private readonly cache = new Map<string, { bundles: FetchedBundle[]; at: number }>();
  private readonly fetching = new Map<string, Promise<FetchedBundle[]>>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: SenderOptions) {
    super();
    this.now = o.now ?? Date.now;
    const every = Math.max(1000, (o.resendAfterMs ?? 30_000) / 2);
    this.timer = setInterval(() => void this.resend(o.resendAfterMs ?? 30_000).catch(() => undefined), every).unref();
  }

  /** Concurrent sends to one recipient share one fetch (one claim), not one each. */
  private bundlesFor(to: string): Promise<FetchedBundle[]> {
    const cached = this.cache.get(to);
    if (cached !== undefined && this.now() - cached.at < (this.o.bundleCacheMs ?? 30_000)) return Promise.resolve(cached.bundles);
    let pending = this.fetching.get(to);
    if (pending === undefined) {
      pending = this.fetchBundles(to, cached).finally(() => this.fetching.delete(to));
      this.fetching.set(to, pending);
    }
    return pending;
  }

  private async fetchBundles(to: string, cached: { bundles: FetchedBundle[] } | undefined): Promise<FetchedBundle[]> {
    try {
      const bundles = await this.o.directory.fetch(to);
      this.cache.set(to, { bundles, at: this.now() });
      return bundles;
    } catch (err) {
      // Claims are rate-limited: keep sealing to the signed prekeys we already verified.
      if (AppError.is(err, ErrorCode.Policy) && cached !== undefined) return cached.bundles;
      throw err;
    }
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
        fetched = await this.bundlesFor(recipient);
      } catch (err) {
        // Every send to this recipient waiting now would fail the same way.
        for (const r of this.take(recipient, Number.POSITIVE_INFINITY)) r.reject(err as Error);
        continue;
      }
      const sealed: Sealed[] = [];
      for (const r of this.take(recipient, SUBMIT_BATCH_ITEMS)) {
        try {
          sealed.push({ request: r, envelope: this.sealOne(recipient, fetched, r) });
        } catch (err) {
          r.reject(err as Error);
        }
      }
      // Cut by the real encoded size (many devices make large items), then send in order.
      for (const parts of this.stanzaSized(this.encode(recipient, sealed))) void this.dispatch(parts);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Takes, in call order, up to `max` waiting sends to `recipient` that fit one stanza. */
  private take(recipient: string, max: number): SendRequest[] {
    const out: SendRequest[] = [];
    let bytes = 0;
    for (let i = 0; i < this.queue.length && out.length < max; ) {
      const r = this.queue[i] as SendRequest;
      if (r.recipient !== recipient) {
        i++;
        continue;
      }
      const size = estimatedSize(r.plaintext.length);
      if (out.length > 0 && bytes + size > SUBMIT_BATCH_BYTES && max !== Number.POSITIVE_INFINITY) break;
      out.push(r);
      bytes += size;
      this.queue.splice(i, 1);
    }
    return out;
  }

  private sealOne(recipient: string, fetched: FetchedBundle[], r: SendRequest): SealedEnvelope {
    const now = this.now();
    // A claimed one-time prekey is good for one message only: the first message sealed after the
    // fetch takes it; later ones use the signed prekey.
    const entry = this.cache.get(recipient);
    const current = entry?.bundles ?? fetched;
    if (entry !== undefined) entry.bundles = entry.bundles.map((f) => ({ ...f, bundle: { ...f.bundle, oneTimePrekeys: [] } }));
    const targets = targetsFromBundles(recipient, current.map((f) => f.bundle), now);
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
    const maxStanza = this.o.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES;
    const parts: Part[] = [];
    for (const { request: r, envelope } of sealed) {
      const el = envelopeToXml(envelopeToWire(envelope));
      // Offline storage at the server may keep a submission while the vault is down; its archive not.
      const single = xml('message', { to: this.o.link.bare, id: envelope.messageId, type: 'normal' }, el, xml('request', { xmlns: NS.receipts }), noPermanentStore());
      const stanza = single.toString();
      // A stanza over the server's limit ends the sender's stream, and a resend would do it again:
      // a message that could not be delivered once wrapped is refused here, before it is kept.
      const size = Buffer.byteLength(stanza);
      if (size > maxItemBytes(maxStanza)) {
        r.reject(
          new AppError(
            ErrorCode.ResourceLimit,
            `message too large: sealed for ${envelope.blocks.length} key blocks it takes ${size} bytes, and a ${maxStanza}-byte stanza holds at most ${maxItemBytes(maxStanza)} once wrapped for delivery`,
          ),
        );
        continue;
      }
      this.waiters.set(envelope.messageId, { resolve: r.resolve, reject: r.reject });
      parts.push({ el, entry: { messageId: envelope.messageId, recipient, stanza, createdAt: now } });
    }
    return parts;
  }

  /** Splits parts (in order) into stanzas within the batch limits; a large one goes alone. */
  private stanzaSized(parts: readonly Part[]): Part[][] {
    const byId = new Map(parts.map((p) => [p.entry.messageId, p]));
    return chunks(parts.map((p) => p.entry)).map((c) => c.map((e) => byId.get(e.messageId) as Part));
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
    const id = `b-${ids[0] as string}`;
    this.batches.set(id, ids);
    for (const m of ids) this.batchOf.set(m, id);
    return xml('message', { to: this.o.link.bare, id, type: 'normal' }, ...sealed, xml('request', { xmlns: NS.receipts }), noPermanentStore());
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
    // The timer sends a message again `resendAfterMs` after it went out, then after twice that,
    // and so on up to eight times that: a backlog larger than the vault takes in that time is not
    // sent over and over (a resend storm that kept a slow vault from ever catching up).
    // `resend()` without an age (a reconnect, the vault back) sends everything at once.
    const now = this.now();
    const after = olderThanMs > 0 ? olderThanMs : (this.o.resendAfterMs ?? 30_000);
    const due = this.o.outbox.list().filter((e) => {
      if (olderThanMs === 0) return true;
      const r = this.resent.get(e.messageId);
      return r === undefined ? now - e.createdAt >= olderThanMs : now - r.at >= r.gap;
    });
    for (const e of due) {
      const r = this.resent.get(e.messageId);
      this.resent.set(e.messageId, { at: now, gap: r === undefined ? after : Math.min(r.gap * 2, after * 8) });
    }
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
    if (!stanza.is('message') || typeof stanza.attrs.from !== 'string') return false;
    try {
      if (bareJid(stanza.attrs.from) !== this.o.link.bare) return false; // only the vault may acknowledge
    } catch {
      return false;
    }
    const received = stanza.getChild('received', NS.receipts);
    if (received !== undefined && stanza.attrs.type !== 'error') {
      const ids = storedIds(stanza);
      if (ids.length === 0 && typeof received.attrs.id === 'string') ids.push(received.attrs.id);
      if (ids.length === 0) return false;
      for (const id of ids) this.settle(id, undefined);
      return true;
    }
    if (stanza.attrs.type === 'error') {
      const id: unknown = stanza.getChild('rejected', NS.sealed)?.attrs.id ?? stanza.attrs.id;
      const errorEl = stanza.getChild('error');
      if (typeof id !== 'string' || errorEl === undefined) return false;
      const se = StanzaError.fromElement(errorEl);
      if (stanza.getChild('rejected', NS.sealed) === undefined) {
        // Not the vault's answer (its refusals carry <rejected/>): the XMPP server bounced the
        // submission, e.g. recipient-unavailable when the vault's session ended with it unread
        // (a crash). It stays in the outbox and goes again (invariant 2).
        this.o.logger.info({ stanzaId: id, condition: se.condition }, 'submission bounced by the XMPP server; will resend');
        return true;
      }
      if (se.type === 'wait') {
        this.o.logger.info({ messageId: id, condition: se.condition }, 'vault asked to wait; will resend');
        return true;
      }
      // A refusal of a whole batch stanza (before its items were looked at) settles every item.
      const error = fromStanzaError(se.condition, se.text);
      for (const m of this.batches.get(id) ?? [id]) this.settle(m, error);
      return true;
    }
    return false;
  }

  private settle(messageId: string, error: AppError | undefined): void {
    this.o.outbox.remove(messageId);
    this.resent.delete(messageId);
    const w = this.waiters.get(messageId);
    this.waiters.delete(messageId);
    const batch = this.batchOf.get(messageId);
    this.batchOf.delete(messageId);
    if (batch !== undefined && (this.batches.get(batch) ?? []).every((m) => !this.batchOf.has(m))) this.batches.delete(batch);
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
    clearInterval(this.timer);
    for (const r of this.queue.splice(0)) r.reject(new AppError(ErrorCode.Unavailable, 'agent stopped before the message was sealed'));
    for (const [id, w] of this.waiters) w.reject(new AppError(ErrorCode.Unavailable, `agent stopped before the receipt for ${id}; it stays in the outbox`));
    this.waiters.clear();
  }
}
