// The table of every setting: env var, schema, local default, and one line of documentation.
// README's configuration table and the docker-compose check are derived from this table.
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

export interface Setting {
  env: string;
  schema: z.ZodType;
  /** The default as the env var would spell it; undefined = unset unless given. */
  default?: string;
  doc: string;
}

/** One setting: its env var, schema, one line of documentation and, where it has one, its default. */
function setting<S extends z.ZodType>(env: string, schema: S, doc: string): { env: string; schema: S; doc: string };
function setting<S extends z.ZodType>(env: string, schema: S, doc: string, dflt: string): { env: string; schema: S; default: string; doc: string };
function setting<S extends z.ZodType>(env: string, schema: S, doc: string, dflt?: string): Setting {
  return dflt === undefined ? { env, schema, doc } : { env, schema, default: dflt, doc };
}

export const SETTINGS = {
  mode: setting(
    'SEALPOST_MODE',
    z.enum(['development', 'production']),
    'production requires a master key and refuses local conveniences',
    'development',
  ),
  strict: setting('SEALPOST_STRICT', bool, 'refuse to start on unsafe Redis settings instead of warning', 'false'),
  dataDir: setting('SEALPOST_DATA_DIR', z.string().min(1), 'archives, key directory, server key', '.sealpost/data'),
  masterKey: setting(
    'SEALPOST_MASTER_KEY',
    z.string().regex(/^[A-Za-z0-9+/=_-]{43,44}$/, 'base64 of 32 bytes'),
    'master key (base64, 32 bytes) wrapping every per-user key',
  ),
  masterKeyFile: setting('SEALPOST_MASTER_KEY_FILE', z.string().min(1), 'file holding the master key; generated with a warning in development'),
  crypto: setting(
    'SEALPOST_CRYPTO',
    z.enum(['auto', 'native', 'wasm']),
    'libsodium backend: native (sodium-native), wasm, or auto (native when it loads); same bytes either way',
    'auto',
  ),
  logLevel: setting('SEALPOST_LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'pino log level', 'info'),
  redisUrl: setting(
    'REDIS_URL',
    z.string().regex(/^rediss?:\/\//, 'redis:// or rediss:// URL'),
    'Redis for queues, rate limits and presence',
    'redis://127.0.0.1:6379',
  ),
  redisCluster: setting('SEALPOST_REDIS_CLUSTER', bool, 'REDIS_URL names one node of a Redis Cluster (every key of ours is hash-tagged)', 'false'),
  queuePrefix: setting('SEALPOST_QUEUE_PREFIX', z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), 'BullMQ key prefix', 'sealpost'),
  xmppService: setting(
    'SEALPOST_XMPP_SERVICE',
    z.string().regex(/^(xmpps?|wss?):\/\//, 'xmpp://, xmpps://, ws:// or wss:// URL'),
    'XMPP server the vault connects to',
    'xmpp://127.0.0.1:5222',
  ),
  xmppDomain: setting('SEALPOST_XMPP_DOMAIN', z.string().min(1), 'XMPP domain of the vault account', 'localhost'),
  vaultUser: setting('SEALPOST_VAULT_USER', z.string().min(1), 'local part of the vault account', 'vault'),
  vaultPassword: setting(
    'SEALPOST_VAULT_PASSWORD',
    z.string().min(1),
    'password of the vault account (required in production)',
    'vault-dev-password',
  ),
  vaultResource: setting(
    'SEALPOST_VAULT_RESOURCE',
    z.string().min(1),
    'resource of the vault connection; one serving process per resource (a second makes the first exit: XMPP conflict)',
    'vault',
  ),
  allowedDomains: setting(
    'SEALPOST_ALLOWED_DOMAINS',
    list,
    'domains the vault serves: presence, key IQs, submissions, history, uploads (comma list)',
    'localhost',
  ),
  httpHost: setting('SEALPOST_HTTP_HOST', z.string().min(1), 'operations endpoint address (health, metrics)', '127.0.0.1'),
  httpPort: setting('SEALPOST_HTTP_PORT', int(0, 65535), 'operations endpoint port (0 = off)', '9187'),
  archiveCipher: setting(
    'SEALPOST_ARCHIVE_CIPHER',
    z.enum(['chacha20', 'aegis']),
    'SQLite3MultipleCiphers cipher for archives (never CBC or RC4)',
    'chacha20',
  ),
  archiveMaxOpen: setting('SEALPOST_ARCHIVE_MAX_OPEN', int(1, 100_000), 'open archive handles kept (LRU)', '64'),
  maxStanzaBytes: setting('SEALPOST_MAX_STANZA_BYTES', int(4096, 16 * 1024 * 1024), 'largest submission stanza accepted', String(256 * 1024)),
  maxInboundStanzaBytes: setting(
    'SEALPOST_MAX_INBOUND_STANZA_BYTES',
    int(4096, 16 * 1024 * 1024),
    "largest stanza the vault reads from the XMPP server, counted before parsing; a larger one is dropped unread (policy-violation); default SEALPOST_MAX_STANZA_BYTES",
  ),
  maxPayloadBytes: setting('SEALPOST_MAX_PAYLOAD_BYTES', int(1, 16 * 1024 * 1024), 'largest sealed payload', String(192 * 1024)),
  maxDevices: setting('SEALPOST_MAX_DEVICES', int(1, 256), 'devices addressed by one message and published per account', '32'),
  maxOneTimePrekeys: setting('SEALPOST_MAX_OPKS', int(1, 1000), 'one-time prekeys per upload', '100'),
  prekeyLowWater: setting('SEALPOST_OPK_LOW_WATER', int(0, 1000), 'below this many one-time prekeys the owner is told to replenish', '25'),
  claimRatePerMinute: setting('SEALPOST_CLAIM_RATE', int(1, 1_000_000), 'prekey claims per minute per (requester, target)', '60'),
  claimBurst: setting('SEALPOST_CLAIM_BURST', int(1, 1_000_000), 'token bucket size for prekey claims', '60'),
  claimTargetRatePerMinute: setting(
    'SEALPOST_CLAIM_TARGET_RATE',
    int(1, 1_000_000),
    'one-time prekey claims per minute per target, whoever asks (then signed prekeys only)',
    '30',
  ),
  claimTargetBurst: setting(
    'SEALPOST_CLAIM_TARGET_BURST',
    int(1, 1_000_000),
    'token bucket size for one-time prekey claims per target; below SEALPOST_MAX_OPKS minus SEALPOST_OPK_LOW_WATER',
    '50',
  ),
  lookupRatePerMinute: setting(
    'SEALPOST_LOOKUP_RATE',
    int(1, 10_000_000),
    'directory lookups of other accounts (fetch, devices) per minute per requester',
    '120',
  ),
  lookupBurst: setting('SEALPOST_LOOKUP_BURST', int(1, 10_000_000), 'token bucket size for directory lookups per requester', '100'),
  mamRatePerMinute: setting('SEALPOST_MAM_RATE', int(1, 10_000_000), 'history (MAM) queries per minute per account', '600'),
  mamBurst: setting('SEALPOST_MAM_BURST', int(1, 10_000_000), 'token bucket size for history queries per account', '300'),
  senderRatePerMinute: setting('SEALPOST_SENDER_RATE', int(1, 10_000_000), 'submissions per minute per sender', '6000'),
  pendingMaxCount: setting('SEALPOST_PENDING_MAX_COUNT', int(1, 100_000_000), 'undelivered messages allowed per recipient', '100000'),
  pendingMaxBytes: setting(
    'SEALPOST_PENDING_MAX_BYTES',
    int(1024, Number.MAX_SAFE_INTEGER),
    'undelivered bytes allowed per recipient',
    String(1024 * 1024 * 1024),
  ),
  historyMaxCount: setting(
    'SEALPOST_HISTORY_MAX_COUNT',
    int(1, 1_000_000_000),
    "history copies kept per recipient (the recipient's archive-key copies, delivered or not)",
    '1000000',
  ),
  historyMaxBytes: setting(
    'SEALPOST_HISTORY_MAX_BYTES',
    int(1024, Number.MAX_SAFE_INTEGER),
    'bytes of history copies kept per recipient',
    String(4 * 1024 * 1024 * 1024),
  ),
  senderSharePercent: setting(
    'SEALPOST_SENDER_SHARE',
    int(1, 100),
    "percent of one recipient's pending and history quotas that one sender may hold (100 = no share)",
    '50',
  ),
  transitTtlSeconds: setting(
    'SEALPOST_TRANSIT_TTL',
    int(60, 10 * 365 * 86400),
    'undelivered copies expire after this many seconds',
    String(30 * 86400),
  ),
  retentionSeconds: setting(
    'SEALPOST_RETENTION',
    int(0, 100 * 365 * 86400),
    'global archive retention in seconds (0 = keep until the user deletes)',
    '0',
  ),
  retentionCron: setting('SEALPOST_RETENTION_CRON', z.string().min(9), 'when the retention job runs (cron)', '17 3 * * *'),
  shardCount: setting(
    'SEALPOST_SHARD_COUNT',
    int(1, 4096),
    'shards users are spread over; fixed at install in <data>/shards/layout.json (another count is refused)',
    '64',
  ),
  leaseSeconds: setting('SEALPOST_LEASE_SECONDS', int(1, 3600), 'shard lease of a worker node; a dead node\'s shards are taken over after it', '15'),
  nodeId: setting(
    'SEALPOST_NODE_ID',
    z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)'),
    'name of this worker node in leases and `shard move`; default the id of its data dir (<data>/root-id)',
  ),
  shardRoots: setting(
    'SEALPOST_SHARD_ROOTS',
    list,
    'data roots whose shard directories this worker can reach, comma list; default SEALPOST_DATA_DIR alone (it is always first)',
  ),
  deliveryWindow: setting('SEALPOST_DELIVERY_WINDOW', int(1, 100_000), 'unacknowledged deliveries in flight per device', '256'),
  uploadHost: setting(
    'SEALPOST_UPLOAD_HOST',
    z.string().min(1),
    'file upload listener address (loopback; put a TLS proxy in front in production)',
    '127.0.0.1',
  ),
  uploadPort: setting(
    'SEALPOST_UPLOAD_PORT',
    int(0, 65535),
    'file upload listener port (XEP-0363 PUT/GET); 0 = a free port, so set one (and the public URL) for uploads to resume across restarts',
    '0',
  ),
  uploadPublicUrl: setting(
    'SEALPOST_UPLOAD_PUBLIC_URL',
    z.string().regex(/^https?:\/\/[^/?#]+(\/[^?#]*)?$/, 'http:// or https:// URL without query'),
    "base URL agents use for uploads (the TLS proxy) of `serve` and `ingest`; on a `worker` node, the URL the ingest reaches its listener at; default the listener address",
  ),
  maxFileBytes: setting(
    'SEALPOST_MAX_FILE_BYTES',
    int(1024, Number.MAX_SAFE_INTEGER),
    'largest file (ciphertext bytes) one upload slot takes',
    String(1024 * 1024 * 1024),
  ),
  uploadSlotsPerUser: setting('SEALPOST_UPLOAD_SLOTS', int(1, 100_000), 'file blobs kept per recipient at most', '256'),
  uploadSweepSeconds: setting('SEALPOST_UPLOAD_SWEEP', int(1, 86400), 'how often blobs whose message is gone (or never came) are erased', '60'),
  opsToken: setting(
    'SEALPOST_OPS_TOKEN',
    z.string().min(16),
    'bearer token for /metrics and the queue dashboard (dashboard off when unset; required in production off loopback)',
  ),
  dashboardWritable: setting('SEALPOST_DASHBOARD_WRITABLE', bool, 'let the queue dashboard retry, clean, remove or add jobs (read-only otherwise)', 'false'),
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
