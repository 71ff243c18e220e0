// The sending half of the SDK (issue "Ingest, store workers and the archive", SDK side): seal to
// the recipient's verified bundles (plus the recipient's and our own archive keys), keep the
// submission in the outbox, send it to the vault's bare JID with a XEP-0184 request, and resolve
// on the vault's receipt — sent only after the archive commit. Resends on reconnect and on a timer.
import { EventEmitter } from 'node:events';
import { AppError, ErrorCode } from '../errors/index.js';
import { envelopeToWire, ownArchiveTarget, seal, targetsFromBundles, type KeyRing, type Limits } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { NS } from '../protocol/namespaces.js';
import { fromStanzaError } from '../protocol/stanza-errors.js';
import { envelopeToXml } from '../protocol/xml-codec.js';
import { bareJid, parseXml, StanzaError, xml, type Element, type XmppConnection } from '../xmpp/index.js';
import type { DirectoryClient, FetchedBundle } from './directory-client.js';
import type { Outbox } from './outbox.js';
import type { VaultLink } from './vault-link.js';

export interface SendOptions {
  /** MIME type of the data (signed with it); default application/octet-stream or text/plain. */
  contentType?: string;
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
  now?: () => number;
}

interface Waiter {
  resolve: (r: SendResult) => void;
  reject: (e: Error) => void;
}

export class Sender extends EventEmitter<{ receipt: [messageId: string]; refused: [messageId: string, error: AppError] }> {
  private readonly waiters = new Map<string, Waiter>();
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

  /** Seals `data` to `to`, stores it in the outbox, sends it; resolves on the vault's receipt. */
  async send(to: string, data: Uint8Array | string, options: SendOptions = {}): Promise<SendResult> {
    const recipient = bareJid(to);
    const plaintext = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (plaintext.length > this.o.limits.maxPayloadBytes)
      throw new AppError(ErrorCode.ResourceLimit, `message of ${plaintext.length} bytes is over the ${this.o.limits.maxPayloadBytes}-byte limit`);
    const contentType = options.contentType ?? (typeof data === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    const fetched = await this.bundlesFor(recipient);
    const now = this.now();
    // A claimed one-time prekey is good for one message only: the first send to read the cache
    // after the fetch takes it (no await in between, so concurrent sends cannot take it twice);
    // later ones use the signed prekey.
    const entry = this.cache.get(recipient);
    const current = entry?.bundles ?? fetched;
    if (entry !== undefined) entry.bundles = entry.bundles.map((f) => ({ ...f, bundle: { ...f.bundle, oneTimePrekeys: [] } }));
    const targets = targetsFromBundles(recipient, current.map((f) => f.bundle), now);
    const own = ownArchiveTarget(this.o.keyring.state);
    const envelope = seal({
      from: this.o.keyring.state.identity,
      to: recipient,
      devices: targets.devices,
      ...(targets.archive === undefined ? {} : { recipientArchive: targets.archive }),
      ...(own === undefined ? {} : { senderArchive: own }),
      plaintext,
      contentType,
      now: () => now,
      limits: this.o.limits,
    });
    const stanza = xml(
      'message',
      { to: this.o.link.bare, id: envelope.messageId, type: 'normal' },
      envelopeToXml(envelopeToWire(envelope)),
      xml('request', { xmlns: NS.receipts }),
    );
    const result = new Promise<SendResult>((resolve, reject) => this.waiters.set(envelope.messageId, { resolve, reject }));
    await this.o.outbox.put({ messageId: envelope.messageId, recipient, stanza: stanza.toString(), createdAt: now });
    await this.o.conn.send(stanza).catch((err: unknown) => {
      // Not lost: the outbox resends it once the connection is back.
      this.o.logger.warn({ messageId: envelope.messageId, error: (err as Error).message }, 'send failed; kept in the outbox');
    });
    return result;
  }

  /** Resends outbox entries (all, or those older than `olderThanMs`). */
  async resend(olderThanMs = 0): Promise<number> {
    if (this.o.conn.status !== 'online') return 0;
    const cutoff = this.now() - olderThanMs;
    let n = 0;
    for (const entry of this.o.outbox.list()) {
      if (entry.createdAt > cutoff && olderThanMs > 0) continue;
      await this.o.conn.send(parseXml(entry.stanza));
      n++;
    }
    return n;
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
      const id: unknown = stanza.getChild('stored', NS.sealed)?.attrs.id ?? received.attrs.id;
      if (typeof id !== 'string') return false;
      this.settle(id, undefined);
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
      this.settle(id, fromStanzaError(se.condition, se.text));
      return true;
    }
    return false;
  }

  private settle(messageId: string, error: AppError | undefined): void {
    this.o.outbox.remove(messageId);
    const w = this.waiters.get(messageId);
    this.waiters.delete(messageId);
    if (error === undefined) {
      w?.resolve({ messageId });
      this.emit('receipt', messageId);
    } else {
      w?.reject(error);
      this.emit('refused', messageId, error);
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const [id, w] of this.waiters) w.reject(new AppError(ErrorCode.Unavailable, `agent stopped before the receipt for ${id}; it stays in the outbox`));
    this.waiters.clear();
  }
}
