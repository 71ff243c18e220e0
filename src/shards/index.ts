// Public surface of src/shards: the shard map, a data root's shard layout, the fencing epoch kept
// in each shard, the Redis lease store and the owner loop (issue 15, design.md "Deployment").
export { checkShardCount, DEFAULT_SHARD_COUNT, formatShardList, MAX_SHARD_COUNT, parseShardList, shardOf } from './map.js';
export { dataRootId, openShardLayout, presentShards, writeLayoutFile, type LayoutFile, type ShardLayout } from './layout.js';
export { openShardFence, type EpochWrites, type FenceState, type Lease, type OpenFenceOptions, type ShardFence } from './fence.js';
export { leaseKeys, redisLeaseStore, type LeaseHolder, type LeaseRedis, type LeaseStore, type RenewResult } from './lease.js';
export { createOwnerLoop, type OwnerLoop, type OwnerLoopOptions, type StartResult, type StopReason } from './owner.js';
export { moveShard, type MoveShardOptions } from './move.js';
export { claimDeployment, deploymentKeys, type DeploymentClaim, type DeploymentRole } from './deployment.js';
export { ARCHIVE_READS, ARCHIVE_VIEWS, ARCHIVE_WRITES, BLOB_READS, BLOB_WRITES, blobFenceOf, type BlobFence, DIRECTORY_READS, DIRECTORY_WRITES, derivedServerPublicKey, directoryDbKey, fenceWrites, openShardStores, type OpenedShard, type OpenShardStoresOptions, type ShardStores } from './stores.js';
export { isLive, nodeRegistry, registryKey, startAnnouncing, type AnnouncerOptions, type NodeRecord, type NodeRegistry, type RootRecord } from './registry.js';
export { announcedCount, listShards, moveShardChecked, ShardMoveError, type CheckedMoveOptions, type MoveRefusal, type ShardRow } from './operator.js';
export { shardWriteLog } from './stores.js';
