// `sealpost shard list|move` as an operator runs it (issue 15): the command is a child process on
// real Redis; the worker nodes are owner loops in this process (leases in Redis, fences in real
// shard directories, announcing themselves as `sealpost worker` nodes do). The list shows owners,
// epochs, lease expiry and home roots; a move pauses, hands over at epoch + 1 and resumes; each
// refusal (unknown node, shard not held, timeout, unreachable directory) has its exit code, and a
// move that timed out leaves the shard to its nodes again.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createOwnerLoop, nodeRegistry, openShardFence, openShardLayout, redisLeaseStore, registryKey, startAnnouncing, type ShardFence, type ShardLayout } from '../../src/shards/index.js';
import { deriveDeploymentKeys } from '../../src/stores/index.js';
import { createRedis, redisReady, type Redis } from '../../src/workers/index.js';
import { runNode, services } from './helpers.js';

const COUNT = 5;
const TTL = 1_500;
const KEY = new Uint8Array(32).fill(7);
// The deployment's master key: the command checks the nodes' registry entries with a key from it.
const MASTER = randomBytes(32);
await initSodium();
const REGISTRY_KEY = deriveDeploymentKeys(MASTER).nodeRegistry;

interface Node {
  id: string;
  fences: Map<number, ShardFence>;
}

/** A data root with the given shard directories (a volume). */
function root(base: string, name: string, shards: number[]): ShardLayout {
  const layout = openShardLayout(join(base, name), COUNT);
  for (const k of shards) mkdirSync(layout.dir(k), { recursive: true });
  return layout;
}

/** A worker node reaching `roots`: its owner loop (unless `stuck`) and its announcements. */
async function node(redis: Redis, prefix: string, id: string, roots: ShardLayout[], options: { stuck?: boolean } = {}): Promise<Node> {
  const leases = redisLeaseStore(redis, prefix);
  const fences = new Map<number, ShardFence>();
  const dirOf = (k: number): string => (roots.find((r) => r.present().includes(k)) as ShardLayout).dir(k);
  const loop = createOwnerLoop({
    node: id,
    leases,
    ttlMs: TTL,
    candidates: () => roots.flatMap((r) => r.present()),
    logger: silentLogger(),
    start(lease) {
      const fence = fences.get(lease.shard) ?? openShardFence({ shard: lease.shard, dir: dirOf(lease.shard), key: KEY, cipher: 'chacha20' });
      fences.set(lease.shard, fence);
      return Promise.resolve(fence.claim(lease) ? { started: true as const } : { started: false as const, fenceEpoch: fence.current().epoch });
    },
    stop: () => Promise.resolve(),
  });
  const announcer = startAnnouncing({
    registry: nodeRegistry(redis, prefix, REGISTRY_KEY),
    node: id,
    count: COUNT,
    ttlMs: TTL,
    roots: () => roots.map((r) => ({ id: r.node, path: r.root, shards: r.present() })),
    held: () => loop.held().map((l) => l.shard),
  });
  onTestFinished(async () => {
    await announcer.stop();
    await loop.close();
    for (const f of fences.values()) f.close();
  });
  if (!options.stuck) {
    // Until a round takes nothing more (a round stops early when starts are slow).
    for (let before = -1; loop.held().length !== before; ) {
      before = loop.held().length;
      await loop.tick();
    }
    loop.run();
  }
  await announcer.announce();
  return { id, fences };
}

describe('sealpost shard', () => {
  it('lists owners, epochs, expiries and home roots; moves a shard at epoch + 1; refuses with an exit code per cause', async () => {
    const redis = createRedis(services().redisUrl, 'producer');
    await redisReady(redis);
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const base = mkdtempSync(join(tmpdir(), 'sealpost-shard-cli-'));
    onTestFinished(async () => {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      rmSync(base, { recursive: true, force: true });
    });
    const env = { REDIS_URL: services().redisUrl, SEALPOST_QUEUE_PREFIX: prefix, SEALPOST_LOG_LEVEL: 'warn', SEALPOST_MASTER_KEY: MASTER.toString('base64') };
    const shard = (...args: string[]) => runNode(['bin/sealpost.js', 'shard', ...args], env);

    // Without the master key the command cannot check the registry: it says so (and generates none).
    const { SEALPOST_MASTER_KEY: _key, ...keyless } = env;
    const noKey = await runNode(['bin/sealpost.js', 'shard', 'list'], { ...keyless, SEALPOST_DATA_DIR: join(base, 'cli-data') });
    expect([noKey.code, noKey.stderr]).toEqual([1, expect.stringMatching(/set SEALPOST_MASTER_KEY or SEALPOST_MASTER_KEY_FILE/)]);

    // No node yet: the list says so, or lists with the count given.
    const none = await shard('list');
    expect(none.code, none.stderr).toBe(1);
    expect(none.stderr).toMatch(/no worker node is running/);

    const [ra, rb, rc] = [root(base, 'a', [0, 1]), root(base, 'b', [2, 3]), root(base, 'c', [4])];
    const a = await node(redis, prefix, 'n-aaaaaaaaaaaaaaaa', [ra]);
    const b = await node(redis, prefix, 'n-bbbbbbbbbbbbbbbb', [ra, rb]);
    // c reaches shard 4 (nobody else does) and shard 1's root, but its owner loop is stuck.
    const c = await node(redis, prefix, 'n-cccccccccccccccc', [rc, ra], { stuck: true });

    const listed = await shard('list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const list = JSON.parse(listed.stdout) as { count: number; shards: { shard: number; owner: string | null; epoch: number | null; expiresInMs: number | null; expiresAt: string | null; home: string[] }[] };
    expect(list.count).toBe(COUNT);
    expect(list.shards.map((s) => [s.shard, s.owner ?? null, s.epoch ?? null])).toEqual([
      [0, a.id, 1],
      [1, a.id, 1],
      [2, b.id, 1],
      [3, b.id, 1],
      [4, null, null],
    ]);
    for (const s of list.shards.slice(0, 4)) {
      expect(s.expiresInMs).toBeGreaterThan(0);
      expect(s.expiresInMs).toBeLessThanOrEqual(TTL);
      expect(Date.parse(s.expiresAt as string)).toBeGreaterThan(Date.now() - 5_000);
    }
    expect(list.shards.map((s) => s.home)).toEqual([[`${ra.node}:${ra.root}`], [`${ra.node}:${ra.root}`], [`${rb.node}:${rb.root}`], [`${rb.node}:${rb.root}`], [`${rc.node}:${rc.root}`]]);
    const text = await shard('list');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^shard\s+owner\s+epoch\s+expires in\s+home root/);
    expect(text.stdout).toMatch(new RegExp(`^0\\s+${a.id}\\s+1\\s+\\d+\\.\\d s\\s+${ra.node}:`, 'm'));

    // A move: a pauses shard 0 and releases it, b takes it at epoch 2 and claims the fence.
    const moved = await shard('move', '0', '--to', b.id, '--json');
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toEqual({ shard: 0, from: a.id, fromEpoch: 1, to: b.id, epoch: 2, moved: true });
    expect(b.fences.get(0)?.current()).toEqual({ epoch: 2, node: b.id });
    const again = await shard('move', '0', '--to', b.id);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already held by n-b{16} \(epoch 2\); nothing to do/);

    // An entry written into the registry by someone without the key (here: c's, under another id) is
    // no node: not listed, and no move goes to it.
    const cEntry = await redis.hget(registryKey(prefix), c.id);
    await redis.hset(registryKey(prefix), 'n-dddddddddddddddd', cEntry as string);
    const forged = JSON.parse((await shard('list', '--json')).stdout) as { nodes: { node: string }[]; ignoredEntries: number };
    expect([forged.nodes.map((n) => n.node), forged.ignoredEntries]).toEqual([[a.id, b.id, c.id], 1]);
    const toForged = await shard('move', '4', '--to', 'n-dddddddddddddddd');
    expect([toForged.code, toForged.stderr]).toEqual([3, expect.stringMatching(/node n-d{16} is unknown/)]);
    await redis.hdel(registryKey(prefix), 'n-dddddddddddddddd');

    const unknown = await shard('move', '1', '--to', 'n-0123456789abcdef');
    expect([unknown.code, unknown.stderr]).toEqual([3, expect.stringMatching(/node n-0123456789abcdef is unknown; running nodes: n-a{16}, n-b{16}, n-c{16}/)]);
    const unreachable = await shard('move', '2', '--to', a.id);
    expect([unreachable.code, unreachable.stderr]).toEqual([6, expect.stringMatching(/cannot reach shard 2's directory/)]);
    const notHeld = await shard('move', '4', '--to', c.id);
    expect([notHeld.code, notHeld.stderr]).toEqual([4, expect.stringMatching(/shard 4 is not held by any node/)]);
    const usage = [await shard('move', 'x', '--to', b.id), await shard('move', '1')];
    expect(usage.map((u) => u.code)).toEqual([2, 2]);

    // c never takes shard 1 (its loop is stuck): the move times out and is cancelled, and the shard
    // does not stay reserved for c: a node that reaches it (a or b) holds it again.
    const slow = await shard('move', '1', '--to', c.id, '--timeout', '2');
    expect([slow.code, slow.stderr]).toEqual([5, expect.stringMatching(/n-c{16} has not taken it within 2 s.*move cancelled/)]);
    await expect.poll(async () => (await redisLeaseStore(redis, prefix).holder(1))?.node, { timeout: TTL * 4 }).toMatch(/^n-[ab]{16}$/);
    // (a gave shard 1 up at epoch 1 and it was never taken by c: the next holder has epoch 2)
    const after = JSON.parse((await shard('list', '--json')).stdout) as { shards: { shard: number; handoverTo: string | null; epoch: number }[] };
    expect(after.shards[1]?.handoverTo ?? null).toBeNull();
    expect(after.shards[1]?.epoch).toBe(2);
  }, 240_000);
});
