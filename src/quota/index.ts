// Public surface of src/quota: a recipient's pending and history quota and each sender's share of
// it (issue 14), checked by the ingest before queueing and by the owner at store time.
export { QuotaCheck, costOf, type Cost, type QuotaLimits } from './limits.js';
export { createUsageMirror, mirrorWrites, USAGE_TTL_SECONDS, type MirrorRedis, type UsageMirror, type UsageMirrorOptions } from './mirror.js';
export { createQuotaGate, type GateRedis, type QuotaGate, type QuotaGateOptions } from './gate.js';
export { hashTagOf, shardTagOf, usageKey } from './keys.js';
