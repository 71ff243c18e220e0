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

export const SETTINGS = {
  mode: {
    env: 'SEALPOST_MODE',
    schema: z.enum(['development', 'production']),
    default: 'development',
    doc: 'production requires a master key and refuses local conveniences',
  },
  strict: {
    env: 'SEALPOST_STRICT',
    schema: bool,
    default: 'false',
    doc: 'refuse to start on unsafe Redis settings instead of warning',
  },
  dataDir: {
    env: 'SEALPOST_DATA_DIR',
    schema: z.string().min(1),
    default: '.sealpost/data',
    doc: 'archives, key directory, server key',
  },
  masterKey: {
    env: 'SEALPOST_MASTER_KEY',
    schema: z.string().regex(/^[A-Za-z0-9+/=_-]{43,44}$/, 'base64 of 32 bytes'),
    doc: 'master key (base64, 32 bytes) wrapping every per-user key',
  },
  masterKeyFile: {
    env: 'SEALPOST_MASTER_KEY_FILE',
    schema: z.string().min(1),
    doc: 'file holding the master key; generated with a warning in development',
  },
  crypto: {
    env: 'SEALPOST_CRYPTO',
    schema: z.enum(['auto', 'native', 'wasm']),
    default: 'auto',
    doc: 'libsodium backend: native (sodium-native), wasm, or auto (native when it loads); same bytes either way',
  },
  logLevel: {
    env: 'SEALPOST_LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: 'pino log level',
  },
  redisUrl: {
    env: 'REDIS_URL',
    schema: z.string().regex(/^rediss?:\/\//, 'redis:// or rediss:// URL'),
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis for queues, rate limits and presence',
  },
  redisCluster: {
    env: 'SEALPOST_REDIS_CLUSTER',
    schema: bool,
    default: 'false',
    doc: 'REDIS_URL names one node of a Redis Cluster (every key of ours is hash-tagged)',
  },
  queuePrefix: {
    env: 'SEALPOST_QUEUE_PREFIX',
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
    default: 'sealpost',
    doc: 'BullMQ key prefix',
  },
  xmppService: {
    env: 'SEALPOST_XMPP_SERVICE',
    schema: z.string().regex(/^(xmpps?|wss?):\/\//, 'xmpp://, xmpps://, ws:// or wss:// URL'),
    default: 'xmpp://127.0.0.1:5222',
    doc: 'XMPP server the vault connects to',
  },
  xmppDomain: {
    env: 'SEALPOST_XMPP_DOMAIN',
    schema: z.string().min(1),
    default: 'localhost',
    doc: 'XMPP domain of the vault account',
  },
  vaultUser: {
    env: 'SEALPOST_VAULT_USER',
    schema: z.string().min(1),
    default: 'vault',
    doc: 'local part of the vault account',
  },
  vaultPassword: {
    env: 'SEALPOST_VAULT_PASSWORD',
    schema: z.string().min(1),
    default: 'vault-dev-password',
    doc: 'password of the vault account (required in production)',
  },
  vaultResource: {
    env: 'SEALPOST_VAULT_RESOURCE',
    schema: z.string().min(1),
    default: 'vault',
    doc: 'resource of the vault connection; one serving process per resource (a second makes the first exit: XMPP conflict)',
  },
  allowedDomains: {
    env: 'SEALPOST_ALLOWED_DOMAINS',
    schema: list,
    default: 'localhost',
    doc: 'domains the vault serves: presence, key IQs, submissions, history, uploads (comma list)',
  },
  httpHost: {
    env: 'SEALPOST_HTTP_HOST',
    schema: z.string().min(1),
    default: '127.0.0.1',
    doc: 'operations endpoint address (health, metrics)',
  },
  httpPort: {
    env: 'SEALPOST_HTTP_PORT',
    schema: int(0, 65535),
    default: '9187',
    doc: 'operations endpoint port (0 = off)',
  },
  archiveCipher: {
    env: 'SEALPOST_ARCHIVE_CIPHER',
    schema: z.enum(['chacha20', 'aegis']),
    default: 'chacha20',
    doc: 'SQLite3MultipleCiphers cipher for archives (never CBC or RC4)',
  },
  archiveMaxOpen: {
    env: 'SEALPOST_ARCHIVE_MAX_OPEN',
    schema: int(1, 100_000),
    default: '64',
    doc: 'open archive handles kept (LRU)',
  },
  maxStanzaBytes: {
    env: 'SEALPOST_MAX_STANZA_BYTES',
    schema: int(4096, 16 * 1024 * 1024),
    default: String(256 * 1024),
    doc: 'largest submission stanza accepted',
  },
  maxPayloadBytes: {
    env: 'SEALPOST_MAX_PAYLOAD_BYTES',
    schema: int(1, 16 * 1024 * 1024),
    default: String(192 * 1024),
    doc: 'largest sealed payload',
  },
  maxDevices: {
    env: 'SEALPOST_MAX_DEVICES',
    schema: int(1, 256),
    default: '32',
    doc: 'devices addressed by one message and published per account',
  },
  maxOneTimePrekeys: {
    env: 'SEALPOST_MAX_OPKS',
    schema: int(1, 1000),
    default: '100',
    doc: 'one-time prekeys per upload',
  },
  prekeyLowWater: {
    env: 'SEALPOST_OPK_LOW_WATER',
    schema: int(0, 1000),
    default: '25',
    doc: 'below this many one-time prekeys the owner is told to replenish',
  },
  claimRatePerMinute: {
    env: 'SEALPOST_CLAIM_RATE',
    schema: int(1, 1_000_000),
    default: '60',
    doc: 'prekey claims per minute per (requester, target)',
  },
  claimBurst: {
    env: 'SEALPOST_CLAIM_BURST',
    schema: int(1, 1_000_000),
    default: '60',
    doc: 'token bucket size for prekey claims',
  },
  claimTargetRatePerMinute: {
    env: 'SEALPOST_CLAIM_TARGET_RATE',
    schema: int(1, 1_000_000),
    default: '30',
    doc: 'one-time prekey claims per minute per target, whoever asks (then signed prekeys only)',
  },
  claimTargetBurst: {
    env: 'SEALPOST_CLAIM_TARGET_BURST',
    schema: int(1, 1_000_000),
    default: '50',
    doc: 'token bucket size for one-time prekey claims per target; below SEALPOST_MAX_OPKS minus SEALPOST_OPK_LOW_WATER',
  },
  lookupRatePerMinute: {
    env: 'SEALPOST_LOOKUP_RATE',
    schema: int(1, 10_000_000),
    default: '120',
    doc: 'directory lookups of other accounts (fetch, devices) per minute per requester',
  },
  lookupBurst: {
    env: 'SEALPOST_LOOKUP_BURST',
    schema: int(1, 10_000_000),
    default: '100',
    doc: 'token bucket size for directory lookups per requester',
  },
  senderRatePerMinute: {
    env: 'SEALPOST_SENDER_RATE',
    schema: int(1, 10_000_000),
    default: '6000',
    doc: 'submissions per minute per sender',
  },
  pendingMaxCount: {
    env: 'SEALPOST_PENDING_MAX_COUNT',
    schema: int(1, 100_000_000),
    default: '100000',
    doc: 'undelivered messages allowed per recipient',
  },
  pendingMaxBytes: {
    env: 'SEALPOST_PENDING_MAX_BYTES',
    schema: int(1024, Number.MAX_SAFE_INTEGER),
    default: String(1024 * 1024 * 1024),
    doc: 'undelivered bytes allowed per recipient',
  },
  transitTtlSeconds: {
    env: 'SEALPOST_TRANSIT_TTL',
    schema: int(60, 10 * 365 * 86400),
    default: String(30 * 86400),
    doc: 'undelivered copies expire after this many seconds',
  },
  retentionSeconds: {
    env: 'SEALPOST_RETENTION',
    schema: int(0, 100 * 365 * 86400),
    default: '0',
    doc: 'global archive retention in seconds (0 = keep until the user deletes)',
  },
  retentionCron: {
    env: 'SEALPOST_RETENTION_CRON',
    schema: z.string().min(9),
    default: '17 3 * * *',
    doc: 'when the retention job runs (cron)',
  },
  storeShards: {
    env: 'SEALPOST_STORE_SHARDS',
    schema: int(1, 1024),
    default: '8',
    doc: 'store queues; each recipient maps to one, stored in order by one worker (per-sender order)',
  },
  deliveryWindow: {
    env: 'SEALPOST_DELIVERY_WINDOW',
    schema: int(1, 100_000),
    default: '256',
    doc: 'unacknowledged deliveries in flight per device',
  },
  uploadHost: {
    env: 'SEALPOST_UPLOAD_HOST',
    schema: z.string().min(1),
    default: '127.0.0.1',
    doc: 'file upload listener address (loopback; put a TLS proxy in front in production)',
  },
  uploadPort: {
    env: 'SEALPOST_UPLOAD_PORT',
    schema: int(0, 65535),
    default: '0',
    doc: 'file upload listener port (XEP-0363 PUT/GET); 0 = a free port, so set one (and the public URL) for uploads to resume across restarts',
  },
  uploadPublicUrl: {
    env: 'SEALPOST_UPLOAD_PUBLIC_URL',
    schema: z.string().regex(/^https?:\/\/[^/?#]+(\/[^?#]*)?$/, 'http:// or https:// URL without query'),
    doc: 'base URL agents use for uploads (the TLS proxy); default the listener address',
  },
  maxFileBytes: {
    env: 'SEALPOST_MAX_FILE_BYTES',
    schema: int(1024, Number.MAX_SAFE_INTEGER),
    default: String(1024 * 1024 * 1024),
    doc: 'largest file (ciphertext bytes) one upload slot takes',
  },
  uploadSlotsPerUser: {
    env: 'SEALPOST_UPLOAD_SLOTS',
    schema: int(1, 100_000),
    default: '256',
    doc: 'file blobs kept per recipient at most',
  },
  uploadSweepSeconds: {
    env: 'SEALPOST_UPLOAD_SWEEP',
    schema: int(1, 86400),
    default: '60',
    doc: 'how often blobs whose message is gone (or never came) are erased',
  },
  opsToken: {
    env: 'SEALPOST_OPS_TOKEN',
    schema: z.string().min(16),
    doc: 'bearer token for the queue dashboard (dashboard off when unset)',
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
