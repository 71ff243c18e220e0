// At most one delivery job per (user, device) (issue 6), without lost wake-ups. A request marks
// "work wanted" and enqueues a job only if it takes the "running" mark; the job clears "wanted"
// before it reads the archive and, when drained, releases "running" only if nothing was wanted
// meanwhile (one Lua script), else it goes round again. BullMQ's job-id dedupe alone would drop a
// request that lands while a finishing job is still active. Keys share a hash tag (cluster-safe).
import { randomUUID } from 'node:crypto';
import { blake2b } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import type { Redis } from './bullmq.js';
import { deliverJobId, QUEUE, type DeliverJobData } from './contract.js';
import { DELIVER_JOB_OPTIONS, type DeliverShards } from './queues.js';

/** The running mark outlives a crashed worker by at most this long (refreshed while a job runs). */
export const RUNNING_TTL_MS = 60_000;
const WANTED_TTL_MS = 10 * 60_000;

export interface DeliveryScheduler {
  /** Asks for delivery to (jid, device); true when this call enqueued a job. */
  request(jid: string, device: number): Promise<boolean>;
  /** Job side, before reading pending items: clears "wanted", renews "running". */
  begin(jid: string, device: number): Promise<void>;
  /** Job side, drained: true when released; false when new work was wanted (go round again). */
  finish(jid: string, device: number): Promise<boolean>;
  /**
   * Job side, stopped (its shard stops here, or shutdown): releases the running mark; work wanted
   * meanwhile (a new owner's request while this job still held the mark) is enqueued again for
   * whoever runs the shard now, else that request would be lost.
   */
  release(jid: string, device: number): Promise<void>;
  /** Job side: renews "running" while the job waits for receipts. */
  refresh(jid: string, device: number): Promise<void>;
}

// KEYS wanted, running; ARGV wanted ttl, running ttl, token. Returns 1 when running was taken.
const REQUEST = `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`;

// KEYS wanted, running. Releases; returns 1 when work was wanted meanwhile.
const RELEASE = `
local wanted = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[2])
return wanted`;

// KEYS wanted, running. Returns 1 when released.
const FINISH = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
return 1`;

function keys(prefix: string, jid: string, device: number): [wanted: string, running: string] {
  const h = Buffer.from(blake2b(16, new TextEncoder().encode(`sealpost/v1/deliver-mark\u0000${jid}\u0000${device}`))).toString('hex');
  return [`${prefix}:deliver:{${h}}:wanted`, `${prefix}:deliver:{${h}}:running`];
}

export function createDeliveryScheduler(options: { redis: Redis; prefix: string; queues: Pick<DeliverShards, 'for'>; logger?: Logger }): DeliveryScheduler {
  const { redis, prefix, queues } = options;
  const log = options.logger?.child({ module: 'deliver-schedule' });
  const scheduler: DeliveryScheduler = {
    async request(jid, device) {
      const [wanted, running] = keys(prefix, jid, device);
      const token = randomUUID().slice(0, 12);
      const took = await redis.eval(REQUEST, 2, wanted, running, String(WANTED_TTL_MS), String(RUNNING_TTL_MS), token);
      log?.debug({ device, took: took === 1, token }, 'delivery request');
      if (took !== 1) return false;
      const data: DeliverJobData = { jid, device };
      try {
        await queues.for(jid).add(QUEUE.deliver, data, { ...DELIVER_JOB_OPTIONS, jobId: `${deliverJobId(jid, device)}-${token}` });
      } catch (err) {
        await redis.del(running).catch(() => undefined);
        throw err;
      }
      return true;
    },
    async begin(jid, device) {
      const [wanted, running] = keys(prefix, jid, device);
      await redis.multi().del(wanted).set(running, 'job', 'PX', RUNNING_TTL_MS).exec();
    },
    async finish(jid, device) {
      const [wanted, running] = keys(prefix, jid, device);
      return (await redis.eval(FINISH, 2, wanted, running)) === 1;
    },
    async release(jid, device) {
      const [wanted, running] = keys(prefix, jid, device);
      const again = (await redis.eval(RELEASE, 2, wanted, running)) === 1;
      log?.debug({ device, again }, 'delivery mark released');
      if (again) await scheduler.request(jid, device);
    },
    async refresh(jid, device) {
      await redis.set(keys(prefix, jid, device)[1], 'job', 'PX', RUNNING_TTL_MS);
    },
  };
  return scheduler;
}
