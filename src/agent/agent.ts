// The agent SDK's composition: one XMPP connection, the encrypted key file, the trust store, the
// outbox, the vault link, and the directory, sender and receiver built on them. `createAgent`
// opens (or creates) the device's keys, connects, finds the vault and publishes the bundle.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { cryptoChoiceFromEnv } from '../config/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import {
  currentSignedPrekey,
  rotateSignedPrekey,
  AgentKeyFile,
  createAgentKeys,
  displayFingerprint,
  FileTrustStore,
  initSodium,
  resolveLimits,
  type CryptoChoice,
  signAnnouncement,
  type KeyStoreSecret,
  type Limits,
} from '../keys/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { announcementToXml, NS, parseExpiryNotice, uintAttr, withBatchCapability } from '../protocol/index.js';
import { MAX_DELIVERY_BATCH } from './receiver.js';
import { bareJid, connectXmpp, parseJid, xml, type Element, type XmppConnection } from '../xmpp/index.js';
import { ArchiveKeys } from './archive-keys.js';
import { DirectoryClient, type FetchedBundle } from './directory-client.js';
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
import { FileSender, type SendFileOptions, type SendFileResult } from './files.js';
import { Outbox } from './outbox.js';
import { Receiver, type DroppedMessage, type MessageHandler } from './receiver.js';
import { Sender, type SendOptions, type SendResult } from './sender.js';
import { linkVault, type VaultLink } from './vault-link.js';

export interface AgentOptions {
  /** XMPP account of this agent. */
  xmpp: { service: string; domain: string; username: string; password: string; resource?: string };
  /** The vault's bare JID, e.g. `vault@example.org`. */
  vault: string;
  /** Folder for this device's key file, trust store and outbox (created, mode 0700). */
  dir: string;
  /** Protects the key file: a passphrase (Argon2id) or a raw 32-byte key. */
  secret: KeyStoreSecret;
  /** Create an archive key for history on first start (default true). */
  archiveKey?: boolean;
  /** One-time prekeys kept published (default 100). */
  prekeys?: number;
  /** At start, fewer one-time prekeys than this left at the directory triggers a fresh upload (default 25). */
  lowWater?: number;
  limits?: Partial<Limits>;
  logger?: Logger;
  now?: () => number;
  /** How long fetched bundles are reused before claiming again (default 30 s). */
  bundleCacheMs?: number;
  resendAfterMs?: number;
  /** The XMPP server's stanza limit in bytes (default 256 KiB, Prosody's); a larger message is refused by send(). */
  maxStanzaBytes?: number;
  /** The application's message handler; can also be set later with `onMessage`. */
  onMessage?: MessageHandler;
  /** How often the signed device announcement is sent to the vault again (default 6 h). */
  announceEveryMs?: number;
  /** libsodium backend for this process (default SEALPOST_CRYPTO, else auto: native when it loads). */
  crypto?: CryptoChoice;
}

export interface AgentEvents {
  receipt: [messageId: string];
  refused: [messageId: string, error: AppError];
  replenished: [remaining: number];
  /** A delivery that could not be opened (see receiver.ts for which ones are acknowledged). */
  dropped: [info: DroppedMessage];
  error: [error: Error];
  /** The vault dropped one of our messages undelivered (transit TTL or the recipient's retention). */
  expired: [notice: ExpiredMessage];
}

/** A sent message that expired at the vault before every device of the recipient took it. */
export interface ExpiredMessage {
  messageId: string;
  recipient: string;
  reason: 'transit-ttl' | 'retention';
  /** The recipient's devices that never acknowledged it. */
  devices: readonly number[];
}

export class Agent extends EventEmitter<AgentEvents> {
  private constructor(
    readonly jid: string,
    private readonly conn: XmppConnection,
    private readonly keys: AgentKeyFile,
    readonly trust: FileTrustStore,
    private readonly link: VaultLink,
    readonly directory: DirectoryClient,
    private readonly sender: Sender,
    readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly receiver: Receiver,
    private readonly announceTimer: NodeJS.Timeout,
    private readonly startDelivery: () => void,
  ) {
    super();
  }

  static async create(options: AgentOptions): Promise<Agent> {
    await initSodium(options.crypto ?? cryptoChoiceFromEnv());
    const now = options.now ?? Date.now;
    const logger = (options.logger ?? silentLogger()).child({ module: 'agent' });
    const jid = bareJid(`${options.xmpp.username}@${options.xmpp.domain}`);
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const keyPath = join(options.dir, 'keys.sealpost');
    const limits = resolveLimits(options.limits);
    const keys = existsSync(keyPath)
      ? await AgentKeyFile.open(keyPath, options.secret)
      : await AgentKeyFile.create(
          keyPath,
          options.secret,
          createAgentKeys({ jid, now: now(), oneTimePrekeys: options.prekeys ?? 100, archiveKey: options.archiveKey ?? true }),
        );
    if (keys.state.identity.jid !== jid) {
      keys.close();
      throw new AppError(ErrorCode.Config, `key file ${keyPath} belongs to ${keys.state.identity.jid}, not ${jid}`);
    }
    const trust = await FileTrustStore.open(join(options.dir, 'trust.json'));
    const outbox = new Outbox(join(options.dir, 'outbox'));
    let conn: XmppConnection;
    try {
      conn = await connectXmpp({ ...options.xmpp, resource: options.xmpp.resource ?? `sealpost-${keys.state.identity.device}`, logger });
    } catch (err) {
      keys.close();
      throw err;
    }
    // The signed device announcement (sealpost support, device id, IK fingerprint) for the vault,
    // bound to this session's resource and fresh each time it is sent. It asks the vault for
    // delivery, so it goes out only once the application has a handler to take messages.
    let takesMessages = options.onMessage !== undefined;
    const link = linkVault(conn, options.vault, () => {
      const resource = parseJid(conn.jid).resource;
      if (!takesMessages || resource === undefined) return undefined;
      // The receiver takes delivery batches: the vault may send several copies in one stanza.
      return withBatchCapability(announcementToXml(signAnnouncement(keys.state.identity, resource, now())), MAX_DELIVERY_BATCH);
    });
    const startDelivery = (): void => {
      if (takesMessages) return;
      takesMessages = true;
      void link.announce().catch(() => undefined);
    };
    const directory = new DirectoryClient({ link, keyring: keys.keyring, trust, target: options.prekeys ?? 100, maxOpks: limits.maxOpksPerUpload, now });
    const sender = new Sender({
      conn,
      link,
      directory,
      keyring: keys.keyring,
      outbox,
      limits,
      logger,
      now,
      ...(options.bundleCacheMs === undefined ? {} : { bundleCacheMs: options.bundleCacheMs }),
      ...(options.resendAfterMs === undefined ? {} : { resendAfterMs: options.resendAfterMs }),
      ...(options.maxStanzaBytes === undefined ? {} : { maxStanzaBytes: options.maxStanzaBytes }),
    });
    const receiver = new Receiver({
      conn,
      vault: link.bare,
      jid,
      device: keys.state.identity.device,
      keys,
      trust,
      limits,
      logger,
      now,
    });
    if (options.onMessage !== undefined) receiver.setHandler(options.onMessage);
    await receiver.prune().catch((err: unknown) => logger.warn({ error: (err as Error).message }, 'cannot prune seen message ids'));
    const announceTimer = setInterval(() => {
      void link.announce().catch(() => undefined);
      void receiver.prune().catch(() => undefined);
    }, options.announceEveryMs ?? 6 * 3600_000).unref();
    const agent = new Agent(jid, conn, keys, trust, link, directory, sender, outbox, logger, receiver, announceTimer, startDelivery);
    agent.historyClock = { limits, now };
    agent.files = new FileSender({ dir: options.dir, link, send: (to, data, o) => sender.send(to, data, o), logger });
    agent.wire();
    // Initial presence: notices to our bare JID (replenish) reach us, and ones kept offline arrive.
    await conn.send(xml('presence', {}, xml('priority', {}, '0')));
    await link.subscribe();
    await link.announce();
    await link.full();
    const remaining = await directory.count();
    if (remaining === undefined) {
      await directory.publish({ fresh: false });
      await link.announce(); // the vault can check the announcement only once the bundle is published
    } else if (remaining < (options.lowWater ?? 25)) await directory.publish({ fresh: true });
    await sender.resend();
    void agent.files.resume().catch(() => undefined); // file sends a crash interrupted (issue 17)
    return agent;
  }

  private wire(): void {
    // A new session after a reconnect (the server restarted; a resumed one keeps its presence) is
    // unavailable until it says otherwise: without this, the vault's presence never reached the
    // agent again (so it never re-announced itself to a restarted vault) and notices to its bare
    // JID waited in offline storage.
    this.conn.on('online', () => void this.conn.send(xml('presence', {}, xml('priority', {}, '0'))).catch(() => undefined));
    this.sender.on('receipt', (id) => this.emit('receipt', id));
    this.sender.on('refused', (id, err) => this.emit('refused', id, err));
    this.conn.on('stanza', (stanza) => {
      if (this.sender.handle(stanza)) return;
      if (this.receiver.handle(stanza)) return;
      const notice = stanza.is('message') ? stanza.getChild('replenish', NS.keys) : undefined;
      if (notice !== undefined && typeof stanza.attrs.from === 'string' && bareJid(stanza.attrs.from) === this.link.bare) {
        const device = uintAttr(notice, 'device', 'replenish');
        if (device !== this.device) return;
        this.directory
          .publish({ fresh: true })
          .then(() => this.emit('replenished', uintAttr(notice, 'remaining', 'replenish')))
          .catch((err: unknown) => this.log.warn({ error: (err as Error).message }, 'replenish failed'));
      }
    });
    this.link.on('online', () => void this.sender.resend().catch(() => undefined));
    // A vault that (re)appears learns again which device this session is, and delivers to it.
    this.link.on('online', () => void this.link.announce().catch(() => undefined));
    this.receiver.on('dropped', (info) => this.emit('dropped', info));
    this.conn.on('stanza', (stanza) => this.onExpiryNotice(stanza));
  }

  /** The vault's notice that a message we sent expired undelivered (issue 7, retention). */
  private onExpiryNotice(stanza: Element): void {
    try {
      if (typeof stanza.attrs.from !== 'string' || bareJid(stanza.attrs.from) !== this.link.bare) return;
      const notice = parseExpiryNotice(stanza);
      if (notice !== undefined) this.emit('expired', notice);
    } catch {
      // a malformed notice is ignored
    }
  }

  private historyClock: { limits: Limits; now: () => number } = { limits: resolveLimits(), now: Date.now };
  private archiveKeyOps: ArchiveKeys | undefined;

  /**
   * The account's history, oldest first (or newest with `reverse`), each item opened with the
   * archive key it was sealed to. Items that do not open come as `{ ok: false, error }`.
   */
  history(options: HistoryOptions = {}): AsyncGenerator<HistoryEntry, void, undefined> {
    const { limits, now } = this.historyClock;
    return history({ conn: this.conn, link: this.link, jid: this.jid, prekeys: this.keys.keyring, trust: this.trust, limits, now }, options);
  }

  /** Deletes history items at the vault by archive ids or range; resolves with how many went. */
  deleteHistory(selector: DeleteHistory): Promise<number> {
    return deleteHistory(this.link, selector);
  }

  /** Sets (seconds, XEP-0136 `expire`) or clears (null) this account's retention policy. */
  setRetention(seconds: number | null): Promise<RetentionPolicy> {
    return setRetention(this.link, seconds);
  }

  retention(): Promise<RetentionPolicy> {
    return getRetention(this.link);
  }

  /** Archive key management: create, rotate, forget, export and import for another device. */
  get archiveKeys(): ArchiveKeys {
    return (this.archiveKeyOps ??= new ArchiveKeys({ keyring: this.keys.keyring, publish: () => this.directory.publish({ fresh: true }) }));
  }

  get device(): number {
    return this.keys.state.identity.device;
  }

  /** This device's identity fingerprint, grouped for reading aloud. */
  get fingerprint(): string {
    return displayFingerprint(this.keys.state.identity.publicKey);
  }

  /**
   * Sets the application's message handler (replacing any earlier one). The receipt is sent only
   * after it resolves; if it throws, the vault delivers the message again later. Until there is a
   * handler, this device does not announce itself and its messages wait at the vault.
   */
  onMessage(handler: MessageHandler): void {
    this.receiver.setHandler(handler);
    this.startDelivery();
  }

  /**
   * Seals and sends one message; resolves on the vault's receipt (after its commit). Concurrent
   * sends to one recipient share submission stanzas (batches), each acknowledged on its own.
   */
  send(to: string, data: Uint8Array | string, options?: SendOptions): Promise<SendResult> {
    return this.sender.send(to, data, options);
  }

  /** Sends several messages to one recipient, in order, batched; resolves when all have receipts. */
  sendMany(to: string, data: readonly (Uint8Array | string)[], options?: SendOptions): Promise<SendResult[]> {
    return this.sender.sendMany(to, data, options);
  }

  private files!: FileSender;

  /**
   * Sends a file of any size (issue 17): sealed in chunks, uploaded to the vault's upload service,
   * then announced by a sealed manifest message; resolves on the manifest's receipt.
   */
  sendFile(to: string, file: string | Readable, options?: SendFileOptions): Promise<SendFileResult> {
    return this.files.sendFile(to, file, options);
  }

  /** Uploads a fresh bundle (new one-time prekeys). */
  /** Makes a new signed prekey (the old one stays usable for its grace period) and publishes it. */
  async rotateSignedPrekey(): Promise<number> {
    const state = await this.keys.keyring.update((s) => rotateSignedPrekey(s, Date.now()));
    await this.directory.publish({ fresh: true });
    return currentSignedPrekey(state).id;
  }

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
    await this.receiver.close();
    this.sender.close();
    this.link.close();
    await this.conn.stop();
    await this.keys.save();
    this.keys.close();
  }
}

export function createAgent(options: AgentOptions): Promise<Agent> {
  return Agent.create(options);
}
