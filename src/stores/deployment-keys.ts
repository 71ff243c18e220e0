// Keys every process of a deployment derives alike from the master key (which each of them
// holds, ingest-only processes too): the request bus's MAC key (only key holders can ask a
// service for anything over Redis), the node registry's MAC key (only key holders can announce a
// node, and so an upload listener, issue 15) and the key of the hashes that name users in Redis keys (so
// someone with Redis access cannot confirm a guessed JID, issue 14). The master key is wiped here.
import { loadMasterKey } from '../archive/index.js';
import type { StoresSlice } from '../config/index.js';
import { blake2b, initSodium, wipe } from '../keys/index.js';
import type { Logger } from '../log/index.js';

export interface DeploymentKeys {
  /** 32-byte MAC key of the request buses. */
  readonly requestBus: Uint8Array;
  /** 32-byte key of the hashes in Redis key names. */
  readonly redisNames: Uint8Array;
  /** 32-byte MAC key of the node registry's entries (src/shards/registry.ts). */
  readonly nodeRegistry: Uint8Array;
}

const LABELS = { requestBus: 'sealpost/v1/request-bus', redisNames: 'sealpost/v1/redis-names', nodeRegistry: 'sealpost/v1/node-registry-mac' } as const;

/** Derives the deployment's keys from `master` (the caller wipes `master`). */
export function deriveDeploymentKeys(master: Uint8Array): DeploymentKeys {
  const derive = (label: string): Uint8Array => blake2b(32, new TextEncoder().encode(label), master);
  return Object.freeze({ requestBus: derive(LABELS.requestBus), redisNames: derive(LABELS.redisNames), nodeRegistry: derive(LABELS.nodeRegistry) });
}

/** Loads the master key of `slice`, derives the deployment's keys and wipes it. */
export async function deploymentKeys(slice: StoresSlice, logger: Logger): Promise<DeploymentKeys> {
  await initSodium(slice.crypto, { wasm: 'lazy' }); // no X-Wing here: the WebAssembly build stays unloaded (issue 16)
  const master = await loadMasterKey(slice, logger);
  try {
    return deriveDeploymentKeys(master);
  } finally {
    wipe(master);
  }
}
