import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/index.js';
import { initSodium } from '../../../src/keys/index.js';
import { formatShardList, openShardLayout, parseShardList, shardOf } from '../../../src/shards/index.js';

describe('shard map', () => {
  beforeAll(() => initSodium());

  it('maps every spelling of a user to one shard and spreads users over all 64', () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 6400; i++) {
      const k = shardOf(`User${i}@Example.ORG`, 64);
      expect(shardOf(`user${i}@example.org/phone`, 64)).toBe(k);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    for (const n of counts) expect(n).toBeGreaterThan(50); // ~100 each
    expect(shardOf('a@b', 1)).toBe(0);
  });

  it('refuses a bad count and a bad JID', () => {
    expect(() => shardOf('a@b', 0)).toThrow(RangeError);
    expect(() => shardOf('a@b', 1.5)).toThrow(RangeError);
    expect(() => shardOf('a b@c', 8)).toThrow(AppError);
  });

  it('parses and formats shard lists', () => {
    expect(parseShardList('0-2, 5,7-8,2', 64)).toEqual([0, 1, 2, 5, 7, 8]);
    expect(formatShardList([8, 0, 1, 2, 5, 7])).toBe('0-2,5,7-8');
    expect(() => parseShardList('60-64', 64)).toThrow(/outside 0..63/);
    expect(() => parseShardList('x', 64)).toThrow(RangeError);
  });
});

describe('shard layout', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const root = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'sealpost-layout-'));
    dirs.push(d);
    return d;
  };

  it('fixes the count at install, keeps the node id, and refuses another count', () => {
    const r = root();
    const a = openShardLayout(r, 16);
    const b = openShardLayout(r, 16);
    expect(b.node).toBe(a.node);
    expect(a.node).toMatch(/^n-[0-9a-f]{16}$/);
    expect(a.dir(3)).toBe(join(r, 'shards', '3'));
    expect(() => a.dir(16)).toThrow(RangeError);
    expect(() => openShardLayout(r, 64)).toThrow(/installed with 16 shards; SEALPOST_SHARD_COUNT=64 refused/);
    expect(openShardLayout(root(), 16).node).not.toBe(a.node);
  });
});
