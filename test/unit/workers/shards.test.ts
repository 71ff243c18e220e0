import { beforeAll, describe, expect, it } from 'vitest';
import { initSodium } from '../../../src/keys/index.js';
import { storeJobId, storeShardName, storeShardOf } from '../../../src/workers/contract.js';

describe('store shards', () => {
  beforeAll(() => initSodium());

  it('maps a recipient to the same shard every time, and spreads recipients over all shards', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 800; i++) {
      const jid = `user${i}@example.org`;
      const shard = storeShardOf(jid, 8);
      expect(storeShardOf(jid, 8)).toBe(shard);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    for (const n of counts) expect(n).toBeGreaterThan(50); // roughly 100 each
    expect(storeShardOf('a@b', 1)).toBe(0);
    expect(storeShardName(3)).toBe('store-3');
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
