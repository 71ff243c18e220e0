// prom-client metrics of the service, in one registry that the composition root creates and hands
// to each part; names follow Prometheus conventions (sealpost_*_total, *_seconds).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  submissions: Counter<'result'>;
  stores: Counter<'result'>;
  deliveries: Counter<'result'>;
  redeliveries: Counter;
  prekeyClaims: Counter<'result'>;
  failedJobs: Counter<'queue'>;
  storeLatency: Histogram;
  deliveryLatency: Histogram;
  queueDepth: Gauge<'queue' | 'state'>;
  pending: Gauge;
  /** Users with at least one undelivered copy. */
  pendingUsers: Gauge;
  /** Undelivered messages of the users with the most, by a prefix of the archive's keyed user hash. */
  pendingPerUser: Gauge<'user'>;
  retention: Counter<'action'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'sealpost_' });
  const registers = [registry];
  return {
    registry,
    submissions: new Counter({
      name: 'sealpost_submissions_total',
      help: 'Sealed submissions received, by result (accepted or the error condition)',
      labelNames: ['result'],
      registers,
    }),
    stores: new Counter({
      name: 'sealpost_stores_total',
      help: 'Store jobs finished, by result (stored, duplicate, failed)',
      labelNames: ['result'],
      registers,
    }),
    deliveries: new Counter({
      name: 'sealpost_deliveries_total',
      help: 'Deliveries to devices, by result (sent, acked)',
      labelNames: ['result'],
      registers,
    }),
    redeliveries: new Counter({
      name: 'sealpost_redeliveries_total',
      help: 'Items sent again because no receipt came',
      registers,
    }),
    prekeyClaims: new Counter({
      name: 'sealpost_prekey_claims_total',
      help: 'Prekey claims, by result (one-time, signed, refused)',
      labelNames: ['result'],
      registers,
    }),
    failedJobs: new Counter({
      name: 'sealpost_failed_jobs_total',
      help: 'Jobs that ended in the failed set after their last attempt',
      labelNames: ['queue'],
      registers,
    }),
    storeLatency: new Histogram({
      name: 'sealpost_store_latency_seconds',
      help: 'From submission received to archive commit',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'sealpost_delivery_latency_seconds',
      help: 'From delivery sent to the device receipt',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'sealpost_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'],
      registers,
    }),
    pending: new Gauge({
      name: 'sealpost_pending_messages',
      help: 'Undelivered message copies across all users',
      registers,
    }),
    pendingUsers: new Gauge({
      name: 'sealpost_pending_users',
      help: 'Users with at least one undelivered message copy',
      registers,
    }),
    pendingPerUser: new Gauge({
      name: 'sealpost_pending_user_messages',
      help: 'Undelivered messages of the users with the most (user = keyed hash prefix, never a JID)',
      labelNames: ['user'],
      registers,
    }),
    retention: new Counter({
      name: 'sealpost_retention_total',
      help: 'Retention actions (purged, expired, shredded)',
      labelNames: ['action'],
      registers,
    }),
  };
}
