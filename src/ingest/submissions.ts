// The submission surface (design.md "XMPP surfaces": Submit): every sealed submission the vault's
// connection receives is checked by handleSubmission and its good items queued in the recipient's
// store shard, one sender's stanzas one after another in the order the XMPP server delivered them
// (invariant 3), different senders in parallel. The sender's key is its stamped bare JID through
// the one JID normaliser (src/jid), so two spellings of one sender share one queue.
import type { IngestSlice } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { createQuotaGate, shardTagOf, type QuotaLimits } from '../quota/index.js';
import { createRateLimiter, type RedisEval } from '../ratelimit/index.js';
import { createStoreEnqueuer, type StoreShards } from '../workers/index.js';
import { bareJid, type XmppConnection } from '../xmpp/index.js';
import { keyedSerializer } from './serial.js';
import { handleSubmission, isSubmission, type DeviceLookup } from './submit.js';

export interface SubmissionsOptions {
  conn: XmppConnection;
  /** The stanza and item bounds, and the sender rate. */
  limits: IngestSlice;
  /** The key directory where this process holds it (one process); else the owner checks recipients. */
  directory?: DeviceLookup | undefined;
  /** The store queue's shards. */
  store: Pick<StoreShards, 'for'>;
  /** Each recipient's quota and a sender's share of it, checked before an item is queued. */
  quota: QuotaLimits;
  /** Redis for the per-sender rate limiter, and its key prefix. */
  redis: RedisEval;
  prefix: string;
  /** The deployment's key for names in Redis (the limiter's bucket names). */
  redisNameKey: Uint8Array;
  logger: Logger;
  metrics?: Metrics;
}

/** The per-sender queue key: the stamped sender's normalised bare JID ('' when there is none). */
export function senderKey(from: unknown): string {
  if (typeof from !== 'string') return '';
  try {
    return bareJid(from);
  } catch {
    return ''; // handleSubmission drops it unanswered
  }
}

export function registerSubmissions(o: SubmissionsOptions): { close(): void } {
  const logger = o.logger.child({ module: 'ingest' });
  const senderLimiter = createRateLimiter(o.redis, `${o.prefix}:rl:submit`, {
    capacity: Math.max(1, Math.ceil(o.limits.senderRatePerMinute / 6)),
    perMinute: o.limits.senderRatePerMinute,
  }, o.redisNameKey);
  const queue = createStoreEnqueuer(o.store, { logger });
  const quota = createQuotaGate({ redis: o.redis, prefix: o.prefix, tagOf: shardTagOf(o.store), limits: o.quota });
  const deps = { conn: o.conn, directory: o.directory, senderLimiter, quota, logger, queue, limits: o.limits, ...(o.metrics === undefined ? {} : { metrics: o.metrics }) };
  const perSender = keyedSerializer();
  const off = o.conn.on('stanza', (stanza) => {
    if (!isSubmission(stanza)) return;
    perSender(senderKey(stanza.attrs.from), () => handleSubmission(stanza, deps)).catch((err: unknown) =>
      logger.error({ err }, 'submission handling failed'),
    );
  });
  return {
    close() {
      off();
      queue.close();
    },
  };
}
