// Where a worker node finds shards and which it may take (issue 15; README "Scaling out"). A node
// reaches the data roots in SEALPOST_SHARD_ROOTS, its own SEALPOST_DATA_DIR first (the others are
// other nodes' volumes mounted here, or re-attached after a node died). A shard lives in one root:
// its home, recorded in Redis when the shard is created (`<prefix>:{s<k>}:home` = the root's id).
// A node may take a shard whose directory it reaches; a shard with no home yet is created in the
// root of one node, chosen by rendezvous hashing over the live nodes once the first node has run
// a lease time, 5 s at most (so nodes started together share the new shards); never where it cannot be found
// again: a shard whose home root is out of reach waits for a node that reaches it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { blake2b } from '../keys/index.js';
import { presentShards, type LeaseRedis, type NodeRegistry, type RootRecord } from '../shards/index.js';

export interface NodeRootsOptions {
  redis: LeaseRedis;
  prefix: string;
  /** The node registry: the live nodes new shards are placed among (every node announces there). */
  registry: Pick<NodeRegistry, 'list'>;
  node: string;
  count: number;
  /** Reachable data roots, own first; `ownRootId`: the first's id. */
  roots: readonly string[];
  ownRootId: string;
  ttlMs: number;
  now?: () => number;
}

export interface NodeRoots {
  /** Reads homes and the live nodes (from the registry); call before each owner tick. */
  refresh(): Promise<void>;
  /** The shards this node may take now (from the last refresh). */
  candidates(): number[];
  /** The shard's directory: where it is present, else (a new shard, home claimed) in the own root. */
  dirOf(shard: number): Promise<string>;
  /** The reachable roots as the last refresh saw them (the node registry's `sealpost shard list`). */
  records(): RootRecord[];
}

const homeKey = (prefix: string, k: number): string => `${prefix}:{s${k}}:home`;

const HOME = `redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])`;
const GET = `return redis.call('GET', KEYS[1])`;

function rootIdOf(root: string): string | undefined {
  const path = join(root, 'root-id');
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

const rank = (node: string, k: number): string => Buffer.from(blake2b(8, new TextEncoder().encode(`sealpost/v1/home\u0000${node}\u0000${k}`))).toString('hex');

export function nodeRoots(o: NodeRootsOptions): NodeRoots {
  const now = o.now ?? Date.now;
  const started = now();
  const ids = new Map<string, string>(); // root id -> root
  const present = new Map<number, string>(); // shard -> dir
  let homes: string[] = [];
  let live: string[] = [o.node];

  const scan = (): void => {
    ids.clear();
    present.clear();
    for (const root of o.roots) {
      const id = root === o.roots[0] ? o.ownRootId : rootIdOf(root);
      if (id !== undefined) ids.set(id, root);
      for (const k of presentShards(join(root, 'shards'), o.count)) if (!present.has(k)) present.set(k, join(root, 'shards', String(k)));
    }
  };

  // One call per shard: each home key is in its shard's hash slot (Redis Cluster).
  const readHomes = async (): Promise<string[]> => {
    const out: string[] = [];
    for (let k = 0; k < o.count; k++) {
      const h = await o.redis.eval(GET, 1, homeKey(o.prefix, k));
      out.push(typeof h === 'string' ? h : '');
    }
    return out;
  };

  return {
    async refresh() {
      scan();
      // Live: announced within three lease times (Redis's clock), with this deployment's count.
      const listed = await o.registry.list();
      const names = new Set(listed.nodes.filter((n) => n.count === o.count && listed.now - n.seenAt <= 3 * o.ttlMs).map((n) => n.node));
      names.add(o.node);
      live = [...names].sort();
      homes = await readHomes();
      // Shards found on a reachable root get that root as home if none is recorded (first run).
      for (const [k, dir] of present) {
        if (homes[k] !== '') continue;
        const root = [...ids.entries()].find(([, r]) => dir.startsWith(join(r, 'shards')))?.[0];
        if (root !== undefined) homes[k] = String(await o.redis.eval(HOME, 1, homeKey(o.prefix, k), root));
      }
    },
    candidates() {
      const out: number[] = [];
      const settled = now() - started >= Math.min(o.ttlMs, 5_000);
      for (let k = 0; k < o.count; k++) {
        const home = homes[k] ?? '';
        if (present.has(k) || (home !== '' && ids.has(home))) out.push(k);
        else if (home === '' && settled) {
          const first = live.reduce((best, n) => (rank(n, k) > rank(best, k) ? n : best), live[0] ?? o.node);
          if (first === o.node) out.push(k);
        }
      }
      return out;
    },
    records() {
      return [...ids.entries()].map(([id, root]) => ({ id, path: root, shards: presentShards(join(root, 'shards'), o.count) }));
    },
    async dirOf(k) {
      const dir = present.get(k);
      if (dir !== undefined) return dir;
      const home = String(await o.redis.eval(HOME, 1, homeKey(o.prefix, k), o.ownRootId));
      const root = ids.get(home);
      if (home === o.ownRootId) return join(o.roots[0] as string, 'shards', String(k));
      throw new AppError(
        ErrorCode.Config,
        `shard ${k} lives on data root ${home}${root === undefined ? ', which this node cannot reach (add its mount to SEALPOST_SHARD_ROOTS)' : `, but ${root}/shards/${k} is missing`}`,
      );
    },
  };
}
