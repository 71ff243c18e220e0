// Public surface of src/node: the shards running in a process (issue 15): `sealpost serve`'s every
// shard, or a worker node's shards under leases, and the retention sweep over every shard.
export { createShardHost, type ShardHost, type ShardHostOptions } from './host.js';
export { nodeRoots, type NodeRoots, type NodeRootsOptions } from './roots.js';
export { isSweepRequest, sweepAll, sweepShard, type SweepDeps, type SweepRequest } from './sweep.js';
export { startWorkerNode, type WorkerNode, type WorkerNodeOptions } from './worker-node.js';
