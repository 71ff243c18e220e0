// The agent SDK's surface: one device of an account, built by `createAgent` (agent-setup.ts opens
// or creates the device's keys, connects, links the vault), which then announces the device,
// publishes its bundle and resends what the outbox kept. Incoming stanzas pass through one
// middleware chain: submission receipts, deliveries, then the vault's notices.
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { AppError } from '../errors/index.js';
import { currentSignedPrekey, displayFingerprint, rotateSignedPrekey, type FileTrustStore } from '../keys/index.js';
import { encodeProtectedStanza, PROTECTED_STANZA_TYPE } from '../protocol/index.js';
import { bareJid, xml, type Element } from '../xmpp/index.js';
import { openAgentParts, type AgentOptions, type AgentParts } from './agent-setup.js';
import { ArchiveKeys } from './archive-keys.js';
import type { DirectoryClient, FetchedBundle } from './directory-client.js';
import type { SendFileOptions, SendFileResult } from './files.js';
import {
  deleteHistory,
  getRetention,
  history,
  setRetention,
  type DeleteHistory,
  type HistoryEntry,
  type HistoryOptions,
  type RetentionPolicy,
} from './history.js';
import { expiryNotices, replenishNotices, type ExpiredMessage } from './notices.js';
import type { Outbox } from './outbox.js';
import type { DroppedMessage, MessageHandler } from './receiver.js';
import type { SendOptions, SendResult } from './sender.js';
import { stanzaChain, type StanzaChain, type StanzaMiddleware } from './stanza-chain.js';
import { stanzaRouter, type StanzaHandler } from './stanzas.js';

export type { AgentOptions } from './agent-setup.js';
export type { ExpiredMessage } from './notices.js';

export interface AgentEvents {
  receipt: [messageId: string];
  refused: [messageId: string, error: AppError];
  /** The vault refused one of our messages for the recipient's quota: it is resent later (see quotaRetries). */
  deferred: [messageId: string, error: AppError];
  replenished: [remaining: number];
  /** A delivery that could not be opened (see receiver.ts for which ones are acknowledged). */
  dropped: [info: DroppedMessage];
  error: [error: Error];
  /** The vault dropped one of our messages undelivered (transit TTL or the recipient's retention). */
  expired: [notice: ExpiredMessage];
  /** A message from a new device of a known contact (issue 14, attack 4): its key is now pinned as trust 'new-device'. */
  newDevice: [info: { jid: string; device: number; fingerprint: string }];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly jid: string;
  readonly trust: FileTrustStore;
  readonly directory: DirectoryClient;
  readonly outbox: Outbox;
  private readonly chain: StanzaChain;
  private readonly announceTimer: NodeJS.Timeout;
  private archiveKeyOps: ArchiveKeys | undefined;
  private readonly router = stanzaRouter();
  /** The receiver's handler: a sender attested by a trusted CA is 'verified' (the policy may refuse others). */
  private readonly attested: MessageHandler = async (m) => {
    const attestation = await this.directory.senderAttestation(m.from, m.device, m.fingerprint);
    if (m.trust === 'new-device') this.emit('newDevice', { jid: m.from, device: m.device, fingerprint: m.fingerprint });
    return this.router.dispatch(attestation === undefined ? m : { ...m, trust: 'verified', attestation });
  };

  private constructor(private readonly p: AgentParts) {
    super();
    this.jid = p.jid;
    this.trust = p.trust;
    this.directory = p.directory;
    this.outbox = p.outbox;
    this.announceTimer = setInterval(() => {
      void p.link.announce().catch(() => undefined);
      void p.receiver.prune().catch(() => undefined);
      void p.directory.expireClaimed().catch(() => undefined);
    }, p.announceEveryMs).unref();
    this.chain = stanzaChain(p.conn, p.logger);
    this.wire();
  }

  static async create(options: AgentOptions): Promise<Agent> {
    const p = await openAgentParts(options);
    const agent = new Agent(p);
    if (options.onMessage !== undefined) agent.onMessage(options.onMessage);
    try {
      // Initial presence: notices to our bare JID (replenish) reach us, and ones kept offline arrive.
      await p.conn.send(xml('presence', {}, xml('priority', {}, '0')));
      await p.link.subscribe();
      await p.link.announce();
      await p.link.full();
      const remaining = await p.directory.count();
      if (remaining === undefined) {
        await p.directory.publish({ fresh: false });
        await p.link.announce(); // the vault can check the announcement only once the bundle is published
      } else if (remaining < (options.lowWater ?? 25)) await p.directory.publish({ fresh: true });
      await p.sender.resend();
    } catch (err) {
      // A start that fails (the vault never answers, a refused publish) leaves nothing open.
      await agent.stop().catch(() => undefined);
      throw err;
    }
    void p.files.resume().catch(() => undefined); // file sends a crash interrupted (issue 17)
    return agent;
  }

  private wire(): void {
    const { conn, link, sender, receiver, directory, logger } = this.p;
    // A new session after a reconnect (the server restarted; a resumed one keeps its presence) is
    // unavailable until it says otherwise: without this, the vault's presence never reached the
    // agent again (so it never re-announced itself to a restarted vault) and notices to its bare
    // JID waited in offline storage.
    conn.on('online', () => void conn.send(xml('presence', {}, xml('priority', {}, '0'))).catch(() => undefined));
    sender.on('receipt', (id) => this.emit('receipt', id));
    sender.on('refused', (id, err) => this.emit('refused', id, err));
    sender.on('deferred', (id, err) => this.emit('deferred', id, err));
    receiver.on('dropped', (info) => this.emit('dropped', info));
    this.use((stanza, next) => {
      if (!sender.handle(stanza)) next();
    });
    this.use((stanza, next) => {
      if (!receiver.handle(stanza)) next();
    });
    this.use(
      replenishNotices({
        vault: link.bare,
        device: this.device,
        publish: () => directory.publish({ fresh: true }),
        replenished: (remaining) => this.emit('replenished', remaining),
        logger,
      }),
    );
    this.use(expiryNotices(link.bare, (notice) => this.emit('expired', notice)));
    link.on('online', () => void sender.resend().catch(() => undefined));
    // A vault that (re)appears learns again which device this session is, and delivers to it.
    link.on('online', () => void link.announce().catch(() => undefined));
  }

  /** Adds a stanza middleware after those of the SDK: it sees what they passed on. */
  use(fn: StanzaMiddleware): void {
    this.chain.use(fn);
  }

  /**
   * The account's history, oldest first (or newest with `reverse`), each item opened with the
   * archive key it was sealed to. Items that do not open come as `{ ok: false, error }`.
   */
  history(options: HistoryOptions = {}): AsyncGenerator<HistoryEntry, void, undefined> {
    const { conn, link, keys, limits, now } = this.p;
    return history({ conn, link, jid: this.jid, prekeys: keys.keyring, trust: this.trust, limits, now }, options);
  }

  /** Deletes history items at the vault by archive ids or range; resolves with how many went. */
  deleteHistory(selector: DeleteHistory): Promise<number> {
    return deleteHistory(this.p.link, selector);
  }

  /** Sets (seconds, XEP-0136 `expire`) or clears (null) this account's retention policy. */
  setRetention(seconds: number | null): Promise<RetentionPolicy> {
    return setRetention(this.p.link, seconds);
  }

  retention(): Promise<RetentionPolicy> {
    return getRetention(this.p.link);
  }

  /** Archive key management: create, rotate, forget, export and import for another device. */
  get archiveKeys(): ArchiveKeys {
    return (this.archiveKeyOps ??= new ArchiveKeys({ keyring: this.p.keys.keyring, publish: () => this.directory.publish({ fresh: true }) }));
  }

  get device(): number {
    return this.p.keys.state.identity.device;
  }

  /** This device's identity fingerprint, grouped for reading aloud. */
  get fingerprint(): string {
    return displayFingerprint(this.p.keys.state.identity.publicKey);
  }

  /**
   * Sets the application's message handler (replacing any earlier one). The receipt is sent only
   * after it resolves; if it throws, the vault delivers the message again later. Until there is a
   * handler, this device does not announce itself and its messages wait at the vault.
   */
  onMessage(handler: MessageHandler): void {
    this.router.message = handler;
    this.p.receiver.setHandler(this.attested);
    this.p.startDelivery();
  }

  /**
   * Sets the handler of protected stanzas (issue 18): each arrives as the element sent, checked,
   * with the sender's verified identity. Without it, they go to the message handler (`stanza` set).
   */
  onStanza(handler: StanzaHandler): void {
    this.router.stanza = handler;
    this.p.receiver.setHandler(this.attested);
    this.p.startDelivery();
  }

  /**
   * Seals an XML element (a XEP-0004 form, any extension; at most 64 KiB, depth 32) as a protected
   * stanza; the wire carries nothing of it. Refused at once when a stanza in it claims another
   * sender (`from`) or the root another recipient. Resolves on the vault's receipt, as send() does.
   */
  async sendStanza(to: string, element: Element): Promise<SendResult> {
    const data = encodeProtectedStanza(element, { sender: this.jid, recipient: to });
    return this.p.sender.send(to, data, { contentType: PROTECTED_STANZA_TYPE });
  }

  /**
   * Seals and sends one message; resolves on the vault's receipt (after its commit). Concurrent
   * sends to one recipient share submission stanzas (batches), each acknowledged on its own.
   */
  send(to: string, data: Uint8Array | string, options?: SendOptions): Promise<SendResult> {
    return this.p.sender.send(to, data, options);
  }

  /** Sends several messages to one recipient, in order, batched; resolves when all have receipts. */
  sendMany(to: string, data: readonly (Uint8Array | string)[], options?: SendOptions): Promise<SendResult[]> {
    return this.p.sender.sendMany(to, data, options);
  }

  /**
   * Sends a file of any size (issue 17): sealed in chunks, uploaded to the vault's upload service,
   * then announced by a sealed manifest message; resolves on the manifest's receipt.
   */
  sendFile(to: string, file: string | Readable, options?: SendFileOptions): Promise<SendFileResult> {
    return this.p.files.sendFile(to, file, options);
  }

  /** Makes a new signed prekey (the old one stays usable for its grace period) and publishes it. */
  async rotateSignedPrekey(): Promise<number> {
    const state = await this.p.keys.keyring.update((s) => rotateSignedPrekey(s, this.p.now()));
    await this.directory.publish({ fresh: true });
    return currentSignedPrekey(state).id;
  }

  /** Uploads a fresh bundle (new one-time prekeys). */
  publishKeys(): Promise<void> {
    return this.directory.publish({ fresh: true });
  }

  fetchBundles(jid: string): Promise<FetchedBundle[]> {
    return this.directory.fetch(bareJid(jid));
  }

  prekeyCount(): Promise<number | undefined> {
    return this.directory.count();
  }

  /** Disconnects; unacknowledged submissions stay in the outbox for the next start. */
  async stop(): Promise<void> {
    clearInterval(this.announceTimer);
    await this.p.receiver.close();
    this.p.sender.close();
    this.p.link.close();
    await this.p.conn.stop();
    this.chain.close();
    await this.p.keys.save();
    this.p.keys.close();
  }
}

export function createAgent(options: AgentOptions): Promise<Agent> {
  return Agent.create(options);
}
