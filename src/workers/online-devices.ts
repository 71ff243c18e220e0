// The devices online per shard (issue 15): a shard that moves to another node must learn which of
// its users' devices are online, or their pending copies wait for the devices' next session (the
// presence came to the old owner only). One sorted set per shard in the shard's hash slot (the tag
// of its delivery queue, so cluster-safe), member `<device> <bare JID>` (the JID is in the shard's
// delivery jobs already), scored by the time of the device's last verified announcement. A hint,
// not the truth: the presence registry is checked before anything is sent, and entries older than
// the registry's expiry are dropped when the shard's set is read.
import { hashTagOf } from '../quota/index.js';
import type { Redis } from './bullmq.js';
import type { DeliverShards } from './queues.js';

export interface OnlineDevice {
  jid: string;
  device: number;
}

export interface OnlineDevices {
  /** A verified announcement of the device. */
  add(jid: string, device: number): Promise<void>;
  /** The device went unavailable (or its registry entry is gone). */
  remove(jid: string, device: number): Promise<void>;
  /** The devices of shard `shard` announced within the expiry; older entries are removed. */
  list(shard: number): Promise<OnlineDevice[]>;
}

const MEMBER = /^([1-9][0-9]{0,9}) (\S+)$/;

export function createOnlineDevices(o: { redis: Redis; prefix: string; queues: Pick<DeliverShards, 'for' | 'shards'>; maxAgeMs: number; now?: () => number }): OnlineDevices {
  const now = o.now ?? Date.now;
  const keyOf = (queue: { name: string }): string => `${o.prefix}:${hashTagOf(queue.name)}:online`;
  const member = (jid: string, device: number): string => `${device} ${jid}`;
  return {
    async add(jid, device) {
      await o.redis.zadd(keyOf(o.queues.for(jid)), now(), member(jid, device));
    },
    async remove(jid, device) {
      await o.redis.zrem(keyOf(o.queues.for(jid)), member(jid, device));
    },
    async list(shard) {
      const queue = o.queues.shards[shard];
      if (queue === undefined) throw new RangeError(`online devices: no shard ${shard}`);
      const key = keyOf(queue);
      await o.redis.zremrangebyscore(key, '-inf', now() - o.maxAgeMs);
      const out: OnlineDevice[] = [];
      for (const m of await o.redis.zrange(key, 0, -1)) {
        const parsed = MEMBER.exec(m);
        if (parsed !== null) out.push({ device: Number(parsed[1]), jid: parsed[2] as string });
      }
      return out;
    },
  };
}
