// The config cut into the slices each module takes (style.md "Config": a module never receives a
// field, least of all a secret, that it does not use). Each slice is a fresh frozen object: the
// master key goes only to the stores, the vault password only to the XMPP login, the ops token
// only to the ops endpoint.
import { resolve } from 'node:path';
import type { Config } from './index.js';

/** Opening the encrypted stores: the only slice holding the master key. */
export interface StoresSlice {
  dataDir: string;
  mode: Config['mode'];
  masterKey: string | undefined;
  masterKeyFile: string | undefined;
  cipher: Config['archiveCipher'];
  maxOpen: number;
  retentionSeconds: number;
  /** SEALPOST_CRYPTO: the libsodium backend, chosen when the stores open (before any crypto). */
  crypto: Config['crypto'];
  /** SEALPOST_SHARD_COUNT: checked against the data dir's layout.json. */
  shardCount: number;
}

/** Redis and the queues on it. */
export interface RedisSlice {
  url: string;
  prefix: string;
  /** Refuse an evicting Redis instead of warning. */
  strict: boolean;
  /** Shards (SEALPOST_SHARD_COUNT): a store and a delivery queue each. */
  shardCount: number;
  /** The URL names one node of a Redis Cluster. */
  cluster: boolean;
}

/** Shards and their owners (issue 15; README "Scaling out"). */
export interface ShardsSlice {
  count: number;
  leaseSeconds: number;
  /** SEALPOST_NODE_ID; undefined: the data dir's root id. */
  nodeId: string | undefined;
  /** Data roots a worker can reach, its own SEALPOST_DATA_DIR first. */
  roots: readonly string[];
}

/** The vault's XMPP login: the only slice holding the vault password. */
export interface XmppSlice {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource: string;
  /** The vault's own bound per inbound stanza, before parsing (issue 14, attack 5). */
  maxStanzaBytes: number;
}

/** What ingest checks a submission against (keys' Limits plus the stanza bounds and the sender rate). */
export interface IngestSlice {
  maxStanzaBytes: number;
  maxPayloadBytes: number;
  maxDevices: number;
  maxOpksPerUpload: number;
  /** Sealed items in one submission stanza (the SDK's batches). */
  maxItemsPerStanza: number;
  senderRatePerMinute: number;
}

/** A recipient's pending and history quotas and one sender's share of them (src/quota). */
export interface StoreQuotaSlice {
  pendingMaxCount: number;
  pendingMaxBytes: number;
  historyMaxCount: number;
  historyMaxBytes: number;
  senderSharePercent: number;
}

/** The key directory's bounds and rate limits. */
export interface DirectorySlice {
  maxOneTimePrekeys: number;
  prekeyLowWater: number;
  /** Devices per account (a publish of one more is refused; a fetch hands out at most this many). */
  maxDevices: number;
  /** The XMPP server's stanza limit: no answer may exceed it, or the server closes our stream. */
  maxStanzaBytes: number;
  /** Claims per (requester, target) a minute, and the burst: past it a fetch is refused (policy-violation). */
  claimRatePerMinute: number;
  claimBurst: number;
  /**
   * Claims per target, whoever asks: past it a fetch is answered with signed prekeys only, so
   * several accounts together cannot drain a victim's one-time prekeys while senders still reach
   * it. Its burst stays below the pool minus the low-water mark (issue 14, attack 6).
   */
  claimTargetRatePerMinute: number;
  claimTargetBurst: number;
  /**
   * Lookups of other accounts (fetch, devices) per requester, whatever the target: a fetch or a
   * device list tells whether a JID uses the vault, so without it one account enumerated every
   * user (issue 14). Past it: policy-violation.
   */
  lookupRatePerMinute: number;
  lookupBurst: number;
}

export interface DeliverySlice {
  /** Unacknowledged copies in flight per device. */
  window: number;
}

export interface RetentionSlice {
  cron: string;
  transitTtlSeconds: number;
}

export interface MamSlice {
  /** The operator's archive retention (0 = none), shown to users beside their own policy. */
  globalRetentionSeconds: number;
  /** History queries per account (issue 14: each reads up to a page's byte budget on the shared event loop). */
  mamRatePerMinute: number;
  mamBurst: number;
}

export interface PresenceSlice {
  allowedDomains: readonly string[];
}

/** The file upload service (issue 17). */
export interface UploadSlice {
  limits: Readonly<{ maxFileBytes: number; uploadSlotsPerUser: number; pendingMaxBytes: number; senderSharePercent: number }>;
  host: string;
  port: number;
  publicUrl: string | undefined;
  transitTtlSeconds: number;
  sweepSeconds: number;
}

/** The operations endpoint: the only slice holding the dashboard token. */
export interface OpsSlice {
  host: string;
  port: number;
  /** Bearer token for /metrics and the dashboard; unset: /metrics open (loopback), no dashboard. */
  token: string | undefined;
  /** The dashboard may change jobs (retry, clean, remove); read-only otherwise. */
  dashboardWritable: boolean;
  /** Checked for writability by /healthz. */
  dataDir: string;
}

export interface ConfigSlices {
  stores: Readonly<StoresSlice>;
  redis: Readonly<RedisSlice>;
  shards: Readonly<ShardsSlice>;
  xmpp: Readonly<XmppSlice>;
  ingest: Readonly<IngestSlice>;
  quota: Readonly<StoreQuotaSlice>;
  directory: Readonly<DirectorySlice>;
  delivery: Readonly<DeliverySlice>;
  retention: Readonly<RetentionSlice>;
  mam: Readonly<MamSlice>;
  presence: Readonly<PresenceSlice>;
  upload: Readonly<UploadSlice>;
  ops: Readonly<OpsSlice>;
}

/** Sealed items the vault takes in one submission stanza (issue 9 batches). */
const MAX_ITEMS_PER_STANZA = 64;

const freeze = <T extends object>(o: T): Readonly<T> => Object.freeze(o);

/** Cuts `config` into frozen slices, one per consumer. */
export function configSlices(c: Config): Readonly<ConfigSlices> {
  return freeze({
    stores: freeze({
      dataDir: c.dataDir,
      mode: c.mode,
      masterKey: c.masterKey,
      masterKeyFile: c.masterKeyFile,
      cipher: c.archiveCipher,
      maxOpen: c.archiveMaxOpen,
      retentionSeconds: c.retentionSeconds,
      crypto: c.crypto,
      shardCount: c.shardCount,
    }),
    redis: freeze({ url: c.redisUrl, prefix: c.queuePrefix, strict: c.strict, shardCount: c.shardCount, cluster: c.redisCluster }),
    shards: freeze({
      count: c.shardCount,
      leaseSeconds: c.leaseSeconds,
      nodeId: c.nodeId,
      roots: freeze([...new Set([resolve(c.dataDir), ...(c.shardRoots ?? []).map((r) => resolve(r))])]),
    }),
    xmpp: freeze({
      service: c.xmppService,
      domain: c.xmppDomain,
      username: c.vaultUser,
      password: c.vaultPassword,
      resource: c.vaultResource,
      maxStanzaBytes: c.maxInboundStanzaBytes ?? c.maxStanzaBytes,
    }),
    ingest: freeze({
      maxStanzaBytes: c.maxStanzaBytes,
      maxPayloadBytes: c.maxPayloadBytes,
      maxDevices: c.maxDevices,
      maxOpksPerUpload: c.maxOneTimePrekeys,
      maxItemsPerStanza: MAX_ITEMS_PER_STANZA,
      senderRatePerMinute: c.senderRatePerMinute,
    }),
    quota: freeze({
      pendingMaxCount: c.pendingMaxCount,
      pendingMaxBytes: c.pendingMaxBytes,
      historyMaxCount: c.historyMaxCount,
      historyMaxBytes: c.historyMaxBytes,
      senderSharePercent: c.senderSharePercent,
    }),
    directory: freeze({
      maxOneTimePrekeys: c.maxOneTimePrekeys,
      prekeyLowWater: c.prekeyLowWater,
      maxDevices: c.maxDevices,
      maxStanzaBytes: c.maxStanzaBytes,
      claimRatePerMinute: c.claimRatePerMinute,
      claimBurst: c.claimBurst,
      claimTargetRatePerMinute: c.claimTargetRatePerMinute,
      claimTargetBurst: c.claimTargetBurst,
      lookupRatePerMinute: c.lookupRatePerMinute,
      lookupBurst: c.lookupBurst,
    }),
    delivery: freeze({ window: c.deliveryWindow }),
    retention: freeze({ cron: c.retentionCron, transitTtlSeconds: c.transitTtlSeconds }),
    mam: freeze({ globalRetentionSeconds: c.retentionSeconds, mamRatePerMinute: c.mamRatePerMinute, mamBurst: c.mamBurst }),
    presence: freeze({ allowedDomains: freeze([...c.allowedDomains]) }),
    upload: freeze({
      limits: freeze({ maxFileBytes: c.maxFileBytes, uploadSlotsPerUser: c.uploadSlotsPerUser, pendingMaxBytes: c.pendingMaxBytes, senderSharePercent: c.senderSharePercent }),
      host: c.uploadHost,
      port: c.uploadPort,
      publicUrl: c.uploadPublicUrl,
      transitTtlSeconds: c.transitTtlSeconds,
      sweepSeconds: c.uploadSweepSeconds,
    }),
    ops: freeze({ host: c.httpHost, port: c.httpPort, token: c.opsToken, dashboardWritable: c.dashboardWritable, dataDir: c.dataDir }),
  });
}
