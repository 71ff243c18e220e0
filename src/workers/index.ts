// Public surface of src/workers: the queue contract, queues and workers.
export * from './contract.js';
export { processStore, type StoreWorkerDeps, type SenderNotifier, type StoredListener, type StoreQuota } from './store-worker.js';
export { createStoreEnqueuer, type StoreEnqueuer, type StoreEnqueuerOptions } from './enqueue.js';
export { connectRedis, type RedisConnections } from './redis.js';
export {
  registerShardWorkers,
  runOnDemand,
  registerRetention,
  type ShardWorkersOptions,
  type OnDemand,
  type Runner,
  type Track,
  type RetentionOptions,
  type WorkerConnection,
} from './register.js';
export {
  createQueues,
  startWorker,
  retryFailed,
  unrecoverableOnPermanent,
  STORE_JOB_OPTIONS,
  STORE_WORKER_LOCK,
  DELIVER_JOB_OPTIONS,
  SHARD_WORKER_IDLE_MS,
  SHARD_WORKER_POLL_MS,
  type Queues,
  type StoreQueue,
  type StoreShards,
  type DeliverShards,
  type ShardQueues,
  type DeliverQueue,
} from './queues.js';
export { createRedis, redisReady, checkRedisPolicy, type Job, type Queue, type Redis } from './bullmq.js';
export { createRequestBus, DECLINED, openRequestBus, requestChannel, type RequestBus, type RequestBusOptions } from './request-bus.js';
export {
  processDeliver,
  handleReceipt,
  handleReceipts,
  batchCopies,
  type DeliverWorkerDeps,
  type DeliveryCopy,
  type DeliveryTransport,
  type ReceiptDeps,
  type ReceiptOutcome,
} from './deliver-worker.js';
export { DeliveryHub, DeliverySession } from './deliver-hub.js';
export { createDelivery, type Delivery, type DeliveryOptions, type DeliveryTiming } from './delivery.js';
export { createDeliveryScheduler, RUNNING_TTL_MS, type DeliveryScheduler } from './deliver-schedule.js';
export { createPresenceRegistry, presenceKey, DEFAULT_PRESENCE_TTL_SECONDS, type PresenceRegistry } from './presence-registry.js';
export { createPendingSampler, type PendingSampler, type PendingSamplerOptions } from './pending-sampler.js';
export {
  runRetention,
  startRetention,
  shred,
  requestSweep,
  retentionQueue,
  type RetentionDeps,
  type RetentionJobData,
  type RetentionJobResult,
  type RetentionService,
  type ExpiredMessageNotice,
  type ShredDeps,
  type ShredReport,
  type StartRetentionOptions,
} from './retention.js';
export { batchJob, jobItems } from './store-batch.js';
export { createOpsBus, requestShred, serveShredRequests, type OpsBusOptions, type ServeShredOptions } from './shred-requests.js';
export { checkRecipient, type DeviceLookup } from './recipient-check.js';
