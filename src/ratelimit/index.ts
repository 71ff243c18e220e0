// Token buckets in Redis, one key per bucket, refilled continuously; used for prekey claims per
// (requester, target) (as Signal-Server rate-limits prekey fetches) and submissions per sender.
// The script reads Redis's own clock, so every service process agrees on time. Bucket keys hold a
// labelled BLAKE2b-128 of the caller's key, never the JIDs in it (issue 14: key names in Redis
// told anyone with Redis access who claims whose prekeys and who sends), keyed with the
// deployment's name key (from the master key, the same in every process): unkeyed, someone with
// Redis access confirmed a guessed JID by hashing it.
import { blake2b } from '../keys/index.js';

/** The one Redis call we need; ioredis's `eval` matches it. */
export interface RedisEval {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export interface BucketSpec {
  /** Tokens the bucket holds when full (the burst). */
  capacity: number;
  /** Tokens added per minute. */
  perMinute: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Tokens left after this take (floored). */
  remaining: number;
  /** When refused: milliseconds until one token is back. */
  retryAfterMs: number;
}

// KEYS[1] bucket; ARGV: capacity, tokens per ms, cost. Stores tokens and last refill time (µs).
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local capacity = tonumber(ARGV[1])
local per_us = tonumber(ARGV[2]) / 1000
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + (now - ts) * per_us)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) / per_us / 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_us / 1000) + 1000)
return {allowed, math.floor(tokens), wait}
`;

export interface RateLimiter {
  take(key: string, cost?: number): Promise<TakeResult>;
}

/** The bucket's key name: hex BLAKE2b-128, keyed by `nameKey`, of a label and the caller's key. */
export function bucketName(key: string, nameKey: Uint8Array): string {
  return Buffer.from(blake2b(16, new TextEncoder().encode(`sealpost/v1/rate-bucket\u0000${key}`), nameKey)).toString('hex');
}

/** `nameKey`: the deployment's 32-byte key for names in Redis (stores' deploymentKeys().redisNames). */
export function createRateLimiter(redis: RedisEval, prefix: string, spec: BucketSpec, nameKey: Uint8Array): RateLimiter {
  if (!(spec.capacity > 0) || !(spec.perMinute > 0))
    throw new RangeError('rate limiter: capacity and perMinute must be positive');
  if (!(nameKey instanceof Uint8Array) || nameKey.length !== 32) throw new RangeError('rate limiter: nameKey must be 32 bytes');
  const named = nameKey.slice();
  const perMs = spec.perMinute / 60_000;
  return {
    async take(key, cost = 1) {
      const reply = (await redis.eval(TAKE_SCRIPT, 1, `${prefix}:${bucketName(key, named)}`, spec.capacity, perMs, cost)) as [
        number,
        number,
        number,
      ];
      return { allowed: reply[0] === 1, remaining: reply[1], retryAfterMs: reply[2] };
    },
  };
}
