// The shard map (issue 15, design.md "Deployment": Shards): a fixed number S of shards set once at
// install, a user mapped to one by a plain BLAKE2b of the normalised bare JID (src/jid). The index
// is routing, not a secret: it narrows a user to 1 of S, as the queue it waits in already shows.
import { parseJid } from '../jid/index.js';
import { blake2b } from '../keys/index.js';

export const DEFAULT_SHARD_COUNT = 64;
export const MAX_SHARD_COUNT = 4096;

const LABEL = 'sealpost/v1/shard\u0000';

/** Checks a shard count: an integer in 1..MAX_SHARD_COUNT. */
export function checkShardCount(count: number): number {
  if (typeof count !== 'number') throw new TypeError('shard count: expected a number');
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARD_COUNT)
    throw new RangeError(`shard count: expected an integer in 1..${MAX_SHARD_COUNT}, got ${count}`);
  return count;
}

/** The shard of `jid` (bare or full; normalised first, so every spelling of a user agrees). */
export function shardOf(jid: string, count: number): number {
  checkShardCount(count);
  if (count === 1) return 0;
  const bare = parseJid(jid).bare;
  const h = blake2b(8, new TextEncoder().encode(LABEL + bare));
  const view = new DataView(h.buffer, h.byteOffset, 8);
  // 64 bits modulo a count <= 4096: the bias is below 2^-52.
  return Number(view.getBigUint64(0) % BigInt(count));
}

/** Parses `0-7,12,20-21` into sorted unique shard indexes below `count`. */
export function parseShardList(text: string, count: number): number[] {
  checkShardCount(count);
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new RangeError(`shard list: ${JSON.stringify(part)} is not N or N-M`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > hi || hi >= count) throw new RangeError(`shard list: ${part} is outside 0..${count - 1}`);
    for (let k = lo; k <= hi; k++) out.add(k);
  }
  return [...out].sort((a, b) => a - b);
}

/** `[0,1,2,5]` -> `0-2,5`: the inverse of parseShardList, for messages and logs. */
export function formatShardList(shards: readonly number[]): string {
  const sorted = [...new Set(shards)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    const lo = sorted[i] as number;
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    parts.push(j === i ? String(lo) : `${lo}-${sorted[j] as number}`);
    i = j + 1;
  }
  return parts.join(',');
}
