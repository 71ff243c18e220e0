// Where a recipient's quota use lives in Redis: one small hash per recipient, in the hash slot of
// the recipient's shard queue (its tag, e.g. `{s3}`), named by a labelled BLAKE2b-128 of the bare
// JID; field `t` holds the totals and one field per sender (a hash of recipient and sender) that
// sender's use, each as "pendingMessages,pendingBytes,keptMessages,keptBytes". No JID in clear.
import { NO_USAGE, normaliseBareJid, type Usage } from '../archive/index.js';
import { blake2b } from '../keys/index.js';

const hex = (label: string, ...parts: string[]): string =>
  Buffer.from(blake2b(16, new TextEncoder().encode([label, ...parts].join('\u0000')))).toString('hex');

/** The hash tag at the start of a queue's key name (`{store-3}`, `{s3}-store` → `{store-3}`, `{s3}`). */
export function hashTagOf(queueName: string): string {
  const m = /^\{[^{}]+\}/.exec(queueName);
  if (m === null) throw new RangeError(`quota: queue name ${JSON.stringify(queueName)} has no hash tag`);
  return m[0];
}

/** A recipient's shard tag: its store queue's (the queue that shard's owner works). */
export function shardTagOf(store: { for(jid: string): { name: string } }): (recipient: string) => string {
  return (recipient) => hashTagOf(store.for(recipient).name);
}

/** The Redis key of `recipient`'s use; `tag` is its shard's hash tag. */
export function usageKey(prefix: string, tag: string, recipient: string): string {
  return `${prefix}:${tag}:quota:${hex('sealpost/v1/quota-user', normaliseBareJid(recipient))}`;
}

export const TOTAL_FIELD = 't';

/** The field of `sender`'s use in `recipient`'s hash. */
export function senderField(recipient: string, sender: string): string {
  return `s${hex('sealpost/v1/quota-sender', normaliseBareJid(recipient), normaliseBareJid(sender))}`;
}

export function encodeUsage(u: Usage): string {
  return [u.pendingMessages, u.pendingBytes, u.keptMessages, u.keptBytes].join(',');
}

/** A field's value, or no use at all for a missing or malformed one. */
export function decodeUsage(v: unknown): Usage {
  if (typeof v !== 'string') return { ...NO_USAGE };
  const n = v.split(',').map(Number);
  if (n.length !== 4 || !n.every((x) => Number.isSafeInteger(x) && x >= 0)) return { ...NO_USAGE };
  const [pendingMessages, pendingBytes, keptMessages, keptBytes] = n as [number, number, number, number];
  return { pendingMessages, pendingBytes, keptMessages, keptBytes };
}
