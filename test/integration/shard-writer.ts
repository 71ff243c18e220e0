// A worker node reduced to what the fencing test needs (run as its own OS process by
// shard-pause.test.ts): it holds shard 0 of DIR under a Redis lease and, while it believes it owns
// the shard, writes one archive row every 20 ms, printing `W <seq>` for each write that committed
// and `R <seq>` for each the shard refused.
import { initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createOwnerLoop, openShardStores, redisLeaseStore, type ShardStores } from '../../src/shards/index.js';
import { createRedis, redisReady } from '../../src/workers/index.js';
import { incoming } from '../unit/archive/helpers.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
};
await initSodium();
const redis = createRedis(env('REDIS_URL'), 'producer');
await redisReady(redis);
const node = env('NODE');
let stores: ShardStores | undefined;
let timer: NodeJS.Timeout | undefined;
let seq = 0;
const loop = createOwnerLoop({
  node,
  leases: redisLeaseStore(redis, env('PREFIX')),
  ttlMs: Number(env('TTL_MS')),
  candidates: () => [0],
  logger: silentLogger(),
  async start(lease) {
    const r = await openShardStores({ shard: 0, dir: env('DIR'), masterKey: new Uint8Array(32).fill(5), cipher: 'chacha20', lease, logger: silentLogger() });
    if (!r.started) return r;
    const s = r.stores;
    stores = s;
    process.stdout.write(`OWN ${lease.epoch}\n`);
    timer = setInterval(() => {
      seq++;
      try {
        s.archive.storeIncoming('bob@example.org', incoming('alice@example.org', `${node}-${seq}`, [101], { receivedAt: Date.now() }));
        process.stdout.write(`W ${seq}\n`);
      } catch {
        process.stdout.write(`R ${seq}\n`);
      }
    }, 20);
    return { started: true };
  },
  stop() {
    clearInterval(timer);
    stores?.close();
    stores = undefined;
    process.stdout.write('STOPPED\n');
    return Promise.resolve();
  },
});
loop.run();
await loop.tick();
