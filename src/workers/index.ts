// Public surface of src/workers: the queue contract, queues and workers.
export * from './contract.js';
export { processStore, type StoreWorkerDeps, type SenderNotifier, type StoredListener, type StoreQuota } from './store-worker.js';
export {
  createQueues,
  startWorker,
  retryFailed,
  unrecoverableOnPermanent,
  STORE_JOB_OPTIONS,
  DELIVER_JOB_OPTIONS,
  type Queues,
  type StoreQueue,
  type DeliverQueue,
} from './queues.js';
export { createRedis, redisReady, checkRedisPolicy, type Redis } from './bullmq.js';
