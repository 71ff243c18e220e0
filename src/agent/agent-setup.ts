// Builds the parts of an agent (the SDK's composition, in the manner of xmpp.js's client factory):
// the device's encrypted key file (opened, or created on first start), the trust store, the
// outbox, one XMPP connection, the vault link, and the directory, sender and receiver on them.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cryptoChoiceFromEnv } from '../config/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import {
  AgentKeyFile,
  createAgentKeys,
  FileTrustStore,
  initSodium,
  resolveLimits,
  signAnnouncement,
  trustedCasFromPem,
  type CryptoChoice,
  type KeyStoreSecret,
  type Limits,
  type NewDevicePolicy,
} from '../keys/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { announcementToXml, withBatchCapability } from '../protocol/index.js';
import { bareJid, connectXmpp, parseJid, type XmppConnection } from '../xmpp/index.js';
import { loadOwnAttestations } from './attestations.js';
import { DirectoryClient } from './directory-client.js';
import { FileSender } from './files.js';
import { Outbox } from './outbox.js';
import { MAX_DELIVERY_BATCH, Receiver, type MessageHandler } from './receiver.js';
import { Sender } from './sender.js';
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
  /** One-time prekey secrets held at most, published and claimed-but-unused (default 1,000; issue 14, attack 2). */
  maxHeldPrekeys?: number;
  /** A new device of a contact with a pinned device: 'alert' (default: the newDevice event, trust 'new-device') or 'refuse' until agent.trust.acceptDevice. */
  newDevices?: NewDevicePolicy;
  limits?: Partial<Limits>;
  logger?: Logger;
  now?: () => number;
  /** How long fetched bundles are reused before claiming again (default 30 s). */
  bundleCacheMs?: number;
  resendAfterMs?: number;
  /**
   * Resends of a message the vault refused with resource-constraint (the recipient's quota, or
   * our share of it, is full) before send() rejects with that error (default 4); each refusal is a
   * `deferred` event and doubles the wait before the next resend.
   */
  quotaRetries?: number;
  /** The XMPP server's stanza limit in bytes (default 256 KiB, Prosody's); a larger message is refused by send(). */
  maxStanzaBytes?: number;
  /** The application's message handler; can also be set later with `onMessage`. */
  onMessage?: MessageHandler;
  /** How often the signed device announcement is sent to the vault again (default 6 h). */
  announceEveryMs?: number;
  /** libsodium backend for this process (default SEALPOST_CRYPTO, else auto: native when it loads). */
  crypto?: CryptoChoice;
  /** CA certificates (PEM) whose X.509 attestations make a contact's key `verified` (issue 18). */
  trustedCas?: string;
  /** Refuse contacts' devices without an attestation from a trusted CA (default false). */
  requireAttestation?: boolean;
}

/** What an Agent is made of: its one deps object. */
export interface AgentParts {
  jid: string;
  conn: XmppConnection;
  keys: AgentKeyFile;
  trust: FileTrustStore;
  outbox: Outbox;
  link: VaultLink;
  directory: DirectoryClient;
  sender: Sender;
  receiver: Receiver;
  /** Sends files (issue 17): chunks sealed and uploaded, then a sealed manifest message. */
  files: FileSender;
  logger: Logger;
  limits: Limits;
  now: () => number;
  /** Announces this device for delivery, once the application has a message handler. */
  startDelivery: () => void;
  /** How often the signed device announcement is sent again. */
  announceEveryMs: number;
}

/** Opens the key file at `dir`, or creates the device's keys there; it must belong to `jid`. */
async function openDeviceKeys(options: AgentOptions, jid: string, now: () => number): Promise<AgentKeyFile> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const keyPath = join(options.dir, 'keys.sealpost');
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
  return keys;
}

export async function openAgentParts(options: AgentOptions): Promise<AgentParts> {
  await initSodium(options.crypto ?? cryptoChoiceFromEnv());
  const now = options.now ?? Date.now;
  const logger = (options.logger ?? silentLogger()).child({ module: 'agent' });
  const jid = bareJid(`${options.xmpp.username}@${options.xmpp.domain}`);
  const limits = resolveLimits(options.limits);
  const keys = await openDeviceKeys(options, jid, now);
  let trust: FileTrustStore;
  let outbox: Outbox;
  let conn: XmppConnection;
  try {
    trust = await FileTrustStore.open(join(options.dir, 'trust.json'));
    outbox = new Outbox(join(options.dir, 'outbox'));
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
  const trustedCas = options.trustedCas === undefined ? [] : trustedCasFromPem(options.trustedCas);
  const directory = new DirectoryClient({
    link,
    keyring: keys.keyring,
    trust,
    target: options.prekeys ?? 100,
    maxOpks: limits.maxOpksPerUpload,
    ...(options.maxHeldPrekeys === undefined ? {} : { maxHeldOpks: options.maxHeldPrekeys }),
    now,
    ownAttestations: () => loadOwnAttestations(options.dir),
    attestationPolicy: { trustedCas, require: options.requireAttestation ?? false },
    ...(options.newDevices === undefined ? {} : { newDevices: options.newDevices }),
  });
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
    ...(options.quotaRetries === undefined ? {} : { quotaRetries: options.quotaRetries }),
    ...(options.maxStanzaBytes === undefined ? {} : { maxStanzaBytes: options.maxStanzaBytes }),
  });
  const newDevices = options.newDevices === undefined ? {} : { newDevices: options.newDevices };
  const vouch = (from: string, device: number, ik: Uint8Array): Promise<void> => directory.vouch(from, device, ik);
  const receiver = new Receiver({ conn, vault: link.bare, jid, device: keys.state.identity.device, keys, trust, ...newDevices, vouch, limits, logger, now });
  if (options.onMessage !== undefined) receiver.setHandler(options.onMessage);
  await receiver.prune().catch((err: unknown) => logger.warn({ error: (err as Error).message }, 'cannot prune seen message ids'));
  const files = new FileSender({ dir: options.dir, link, send: (to, data, o) => sender.send(to, data, o), logger });
  const announceEveryMs = options.announceEveryMs ?? 6 * 3600_000;
  return { jid, conn, keys, trust, outbox, link, directory, sender, receiver, files, logger, limits, now, startDelivery, announceEveryMs };
}
