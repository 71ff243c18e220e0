// Which resource of a user is which device, in Redis (issue 6, Presence): written when a verified
// device announcement arrives, removed at unavailable, expiring after a day without a refresh so a
// missed unavailable cannot keep a dead session registered forever. One hash per user, named by a
// hash of the JID (no JIDs in key names); each change is one Lua script on that key (cluster-safe).
import { blake2b } from '../keys/index.js';
import type { Redis } from './bullmq.js';

export const DEFAULT_PRESENCE_TTL_SECONDS = 24 * 60 * 60;

export interface PresenceRegistry {
  /**
   * Records `resource` as `device`; returns the resource the device had before, if another.
   * `batch`: the most copies per delivery stanza the session takes (issue 9); none: singles.
   */
  available(jid: string, resource: string, device: number, batch?: number): Promise<string | undefined>;
  /** Forgets `resource`; returns the device it was, if any. */
  unavailable(jid: string, resource: string): Promise<number | undefined>;
  /** Forgets every resource of `jid` (the account went offline); returns the devices. */
  offline(jid: string): Promise<number[]>;
  /** The device registered for this resource. */
  deviceAt(jid: string, resource: string): Promise<number | undefined>;
  /** The resource where this device is available. */
  resourceOf(jid: string, device: number): Promise<string | undefined>;
  /** The most copies per delivery stanza the device's current session takes; undefined: one. */
  batchOf?(jid: string, device: number): Promise<number | undefined>;
  /** Pushes the expiry of the user's entries out again (activity seen). */
  touch(jid: string): Promise<void>;
  /**
   * Records `timestamp` as the device's last accepted announcement when it is newer than the one
   * before; false when it is not (a replay, issue 14). Kept apart from the presence hash, which
   * goes at offline, for `keepMs` (the announcement window: older ones are stale anyway).
   * `forwardId` (the ingest's id of one forwarded presence, the same on each of its tries) is kept
   * with it: the same timestamp under the same id is taken again (true), as the next owner does
   * when the first stopped half-way; under any other id, or none, it stays a replay.
   */
  advance(jid: string, device: number, timestamp: number, keepMs: number, forwardId?: string): Promise<boolean>;
}

// KEYS[1] the user's announcement hash; ARGV device, timestamp, keep ms, forward id ('' none).
// 1 when newer, or the same timestamp again under the same forward id.
const ADVANCE = `
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local ts = tonumber(ARGV[2])
if last ~= nil and ts <= last then
  if ts == last and ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'f:' .. ARGV[1]) == ARGV[4] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'f:' .. ARGV[1], ARGV[4]) else redis.call('HDEL', KEYS[1], 'f:' .. ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

// KEYS[1] the user's hash; ARGV resource, device, ttl, batch ('' for none).
const AVAILABLE = `
local oldDev = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if oldDev and oldDev ~= ARGV[2] and redis.call('HGET', KEYS[1], 'd:' .. oldDev) == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'd:' .. oldDev)
end
local oldRes = redis.call('HGET', KEYS[1], 'd:' .. ARGV[2])
if oldRes and oldRes ~= ARGV[1] then redis.call('HDEL', KEYS[1], 'r:' .. oldRes) end
redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], ARGV[2], 'd:' .. ARGV[2], ARGV[1])
if ARGV[4] ~= nil and ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'b:' .. ARGV[2], ARGV[4])
else redis.call('HDEL', KEYS[1], 'b:' .. ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if oldRes and oldRes ~= ARGV[1] then return oldRes end
return false`;

// KEYS[1] the user's hash; ARGV resource.
const UNAVAILABLE = `
local dev = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if not dev then return false end
redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
if redis.call('HGET', KEYS[1], 'd:' .. dev) == ARGV[1] then redis.call('HDEL', KEYS[1], 'd:' .. dev, 'b:' .. dev) end
return dev`;

// KEYS[1] the user's hash. Returns the devices that were registered.
const OFFLINE = `
local fields = redis.call('HKEYS', KEYS[1])
local devices = {}
for _, f in ipairs(fields) do
  if string.sub(f, 1, 2) == 'd:' then table.insert(devices, string.sub(f, 3)) end
end
redis.call('DEL', KEYS[1])
return devices`;

const DEVICE = /^[1-9][0-9]{0,9}$/;

function toDevice(v: unknown): number | undefined {
  return typeof v === 'string' && DEVICE.test(v) ? Number(v) : undefined;
}

/** Key of a user's presence hash: `<prefix>:presence:<hex BLAKE2b-128 of the bare JID>`. */
export function presenceKey(prefix: string, jid: string): string {
  const h = Buffer.from(blake2b(16, new TextEncoder().encode(`sealpost/v1/presence-key\u0000${jid}`))).toString('hex');
  return `${prefix}:presence:${h}`;
}

/** Key of a user's last accepted announcement per device (a hash of the bare JID, as above). */
function announceKey(prefix: string, jid: string): string {
  const h = Buffer.from(blake2b(16, new TextEncoder().encode(`sealpost/v1/announce-key\u0000${jid}`))).toString('hex');
  return `${prefix}:announce:${h}`;
}

export function createPresenceRegistry(
  redis: Redis,
  prefix: string,
  options: { ttlSeconds?: number } = {},
): PresenceRegistry {
  const ttl = options.ttlSeconds ?? DEFAULT_PRESENCE_TTL_SECONDS;
  const key = (jid: string): string => presenceKey(prefix, jid);
  return {
    async available(jid, resource, device, batch) {
      const b = batch !== undefined && Number.isInteger(batch) && batch > 1 ? String(batch) : '';
      const old: unknown = await redis.eval(AVAILABLE, 1, key(jid), resource, String(device), String(ttl), b);
      return typeof old === 'string' ? old : undefined;
    },
    async unavailable(jid, resource) {
      return toDevice(await redis.eval(UNAVAILABLE, 1, key(jid), resource));
    },
    async offline(jid) {
      const out: unknown = await redis.eval(OFFLINE, 1, key(jid));
      return Array.isArray(out) ? out.map(toDevice).filter((d): d is number => d !== undefined) : [];
    },
    async deviceAt(jid, resource) {
      return toDevice(await redis.hget(key(jid), `r:${resource}`));
    },
    async resourceOf(jid, device) {
      return (await redis.hget(key(jid), `d:${device}`)) ?? undefined;
    },
    async batchOf(jid, device) {
      const v = await redis.hget(key(jid), `b:${device}`);
      return v !== null && /^[1-9][0-9]{0,3}$/.test(v) ? Number(v) : undefined;
    },
    async touch(jid) {
      await redis.expire(key(jid), ttl);
    },
    async advance(jid, device, timestamp, keepMs, forwardId) {
      const id = forwardId !== undefined && /^[A-Za-z0-9_-]{1,64}$/.test(forwardId) ? forwardId : '';
      return (await redis.eval(ADVANCE, 1, announceKey(prefix, jid), String(device), String(timestamp), String(Math.ceil(keepMs)), id)) === 1;
    },
  };
}
