import { beforeAll, describe, expect, it } from 'vitest';
import { initSodium } from '../../../src/keys/index.js';
import { leaseKeys } from '../../../src/shards/index.js';
import { deliverShardName, queueKeyName, storeJobId, storeShardName } from '../../../src/workers/contract.js';

describe('store shards', () => {
  beforeAll(() => initSodium());

  it("names a shard's queues inside the shard's hash tag, the slot of its lease", () => {
    expect(storeShardName(3)).toBe('store-s3');
    expect(deliverShardName(3)).toBe('deliver-s3');
    expect(queueKeyName(storeShardName(3))).toBe('{s3}-store');
    expect(queueKeyName(deliverShardName(12))).toBe('{s12}-deliver');
    expect(leaseKeys('p', 3)[0]).toBe('p:{s3}:lease');
    expect(queueKeyName('retention')).toBe('{retention}');
  });

  it('gives a store job an id from (sender, message id) with no JID and no colon in it', () => {
    const id = storeJobId('alice@example.org', 'm1');
    expect(id).toBe(storeJobId('alice@example.org', 'm1'));
    expect(id).not.toBe(storeJobId('alice@example.org', 'm2'));
    expect(id).not.toBe(storeJobId('bob@example.org', 'm1'));
    expect(id).not.toContain('alice');
    expect(id).not.toContain(':');
  });
});
