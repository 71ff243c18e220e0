// The ingest's side of the quota (issue 14, attack 1): before an item is queued, its recipient's
// use as the owner last published it (mirror.ts) is read in one round trip and each item checked
// against the recipient's bounds and the sender's share, so an over-quota item is refused at once
// and nothing of it reaches the queue. The ingest holds no archive (issue 15: it may run on a node
// without one). Items queued meanwhile and not yet stored are not in the published use: the owner
// checks again at store time, exactly, and refuses the excess then.
import type { AppError } from '../errors/index.js';
import { decodeUsage, senderField, TOTAL_FIELD, usageKey } from './keys.js';
import { QuotaCheck, type Cost, type QuotaLimits } from './limits.js';

/** The one Redis call the gate makes; ioredis's `eval` matches (as the rate limiter's). */
export interface GateRedis {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export interface QuotaGate {
  /** For items of one sender to one recipient, in order: undefined for each admitted, the refusal otherwise. */
  check(recipient: string, sender: string, costs: readonly Cost[]): Promise<(AppError | undefined)[]>;
}

export interface QuotaGateOptions {
  redis: GateRedis;
  prefix: string;
  tagOf(recipient: string): string;
  limits: QuotaLimits;
}

const READ = "return redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])";

export function createQuotaGate(o: QuotaGateOptions): QuotaGate {
  return {
    async check(recipient, sender, costs) {
      const key = usageKey(o.prefix, o.tagOf(recipient), recipient);
      const reply = await o.redis.eval(READ, 1, key, TOTAL_FIELD, senderField(recipient, sender));
      const [total, mine]: unknown[] = Array.isArray(reply) ? (reply as unknown[]) : [];
      const quota = new QuotaCheck(o.limits, recipient, decodeUsage(total), decodeUsage(mine));
      return costs.map((c) => quota.admit(c));
    },
  };
}
