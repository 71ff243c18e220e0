// The one registry of worker nodes (issue 15): which are alive, which shard directories each
// reaches, which shards it holds, where its upload listener is. Every node announces itself every
// third of its lease time, so the operator's `sealpost shard list` shows a shard's home root,
// `sealpost shard move` refuses a node that is unknown, silent, or cannot reach the shard, nodes
// place new shards among the live ones (src/node/roots.ts), and the ingest's upload front finds the
// listener of a shard's owner. One hash under one hash tag (`<prefix>:{nodes}`), so it runs on
// Redis Cluster; the time is the Redis server's, so the nodes' clocks do not matter. Who owns a
// shard is never read here: leases decide. Each entry carries a keyed BLAKE2b MAC over the
// deployment prefix, the node id and its fields (a key every process derives from the master key,
// like the request bus's): an entry without a valid one is ignored, so someone who can write to
// Redis cannot point the ingest's upload front at a listener of theirs, nor place shards on a node
// that does not exist. The announcement time is Redis's and outside the MAC: such a writer can keep
// a real node's last entry looking live, which is no more than it can do to the leases.
import { blake2b, constantTimeEqual } from '../keys/index.js';
import type { LeaseRedis } from './lease.js';

/** A data root a node reaches: its id (`<root>/root-id`), its path there, the shard dirs in it. */
export interface RootRecord {
  id: string;
  path: string;
  shards: number[];
}

export interface NodeRecord {
  node: string;
  /** The shard count the node runs with (fixed at install; every node must agree). */
  count: number;
  roots: RootRecord[];
  /** Shards whose lease the node holds (as it saw at its last tick). */
  held: number[];
  /** The node's lease time: silent for longer than this, it holds nothing any more. */
  ttlMs: number;
  /** Base URL of the node's upload listener (the ingest's front passes requests there). */
  upload?: string;
  /** Redis time (ms) of the last announcement. */
  seenAt: number;
}

export interface NodeRegistry {
  announce(record: Omit<NodeRecord, 'seenAt'>): Promise<void>;
  /** Every node announced with a valid MAC (sorted by id), Redis's time now (ms), and how many entries were ignored. */
  list(): Promise<{ now: number; nodes: NodeRecord[]; ignored: number }>;
  /** Removes a node's entry (it stops for good). */
  forget(node: string): Promise<void>;
}

// Entries not refreshed for a day are dropped on each announcement: a node that died for good.
const FORGET_MS = 86_400_000;

const ANNOUNCE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], now .. ' ' .. ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local seen = tonumber(string.match(all[i + 1], '^(%d+) '))
  if seen == nil or seen < now - tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], all[i]) end
end
return now`;

const LIST = `
local t = redis.call('TIME')
return {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), redis.call('HGETALL', KEYS[1])}`;

const FORGET = `return redis.call('HDEL', KEYS[1], ARGV[1])`;

/** True when `record` announced itself within its lease time before `now` (Redis time). */
export function isLive(record: NodeRecord, now: number): boolean {
  return now - record.seenAt <= record.ttlMs;
}

/** `<prefix>:{nodes}`. */
export function registryKey(prefix: string): string {
  return `${prefix}:{nodes}`;
}

const enc = new TextEncoder();

/** The entry's MAC: over the prefix, the node id and the fields as stored. */
function entryMac(key: Uint8Array, prefix: string, node: string, text: string): Uint8Array {
  return blake2b(32, enc.encode(`sealpost/v1/node-registry\u0000${prefix}\u0000${node}\u0000${text}`), key);
}

function parse(key: Uint8Array, prefix: string, node: string, value: string): NodeRecord | undefined {
  const m = /^(\d+) ([A-Za-z0-9+/]{43}=) (.*)$/s.exec(value);
  if (m === null) return undefined;
  const text = m[3] as string;
  if (!constantTimeEqual(Buffer.from(m[2] as string, 'base64'), entryMac(key, prefix, node, text))) return undefined;
  try {
    const body = JSON.parse(text) as Omit<NodeRecord, 'node' | 'seenAt'>;
    if (typeof body.count !== 'number' || typeof body.ttlMs !== 'number' || !Array.isArray(body.roots) || !Array.isArray(body.held)) return undefined;
    const upload = typeof body.upload === 'string' ? { upload: body.upload } : {};
    return { node, count: body.count, roots: body.roots, held: body.held, ttlMs: body.ttlMs, ...upload, seenAt: Number(m[1]) };
  } catch {
    return undefined;
  }
}

/** `macKey`: the deployment's 32-byte registry key (stores' deploymentKeys().nodeRegistry), the same on every process. */
export function nodeRegistry(redis: LeaseRedis, prefix: string, macKey: Uint8Array): NodeRegistry {
  if (macKey.length !== 32) throw new RangeError(`macKey: expected 32 bytes, got ${macKey.length}`);
  const key = registryKey(prefix);
  return {
    async announce(record) {
      const { node, ...body } = record;
      const text = JSON.stringify(body);
      const mac = Buffer.from(entryMac(macKey, prefix, node, text)).toString('base64');
      await redis.eval(ANNOUNCE, 1, key, node, `${mac} ${text}`, FORGET_MS);
    },
    async list() {
      const [now, flat] = (await redis.eval(LIST, 1, key)) as [number, string[]];
      const nodes: NodeRecord[] = [];
      let ignored = 0;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const r = parse(macKey, prefix, flat[i] as string, flat[i + 1] as string);
        if (r === undefined) ignored++;
        else nodes.push(r);
      }
      return { now, nodes: nodes.sort((a, b) => a.node.localeCompare(b.node)), ignored };
    },
    async forget(node) {
      await redis.eval(FORGET, 1, key, node);
    },
  };
}

export interface AnnouncerOptions {
  registry: NodeRegistry;
  node: string;
  count: number;
  ttlMs: number;
  /** The data roots this node reaches now, each with the shard directories present in it. */
  roots: () => RootRecord[];
  /** Shards whose lease the node holds now. */
  held: () => number[];
  /** The node's upload listener. */
  upload?: string;
  onError?: (err: Error) => void;
}

/** Announces the node now and every ttl / 3 (as often as the owner loop renews) until stop(). */
export function startAnnouncing(o: AnnouncerOptions): { announce(): Promise<void>; stop(): Promise<void> } {
  const upload = o.upload === undefined ? {} : { upload: o.upload };
  const announce = (): Promise<void> => o.registry.announce({ node: o.node, count: o.count, ttlMs: o.ttlMs, roots: o.roots(), held: o.held(), ...upload });
  const timer = setInterval(() => void announce().catch((err: unknown) => o.onError?.(err as Error)), Math.max(50, Math.floor(o.ttlMs / 3)));
  timer.unref();
  return {
    announce,
    async stop() {
      clearInterval(timer);
      await o.registry.forget(o.node).catch(() => undefined);
    },
  };
}
