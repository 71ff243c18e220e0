// The owner's side of the quota (issue 14, attack 1): after every archive write that changes a
// recipient's use (a store, a receipt, an expiry, a purge, a delete, a shred) the owner writes the
// recipient's totals and the senders concerned to the recipient's Redis hash (keys.ts), read from
// the archive's exact counters, so an ingest that holds no archive can refuse over-quota items
// before they are queued. Redis commands of one connection apply in order, so a later write never
// loses to an earlier one. A lost hash only lets items through to the owner's own check; a stale
// one (a write lost with Redis, a shred while the service was down) lives at most USAGE_TTL_SECONDS
// past its last write, and the owner writes it again whenever it refuses what the ingest let through.
import type { ArchiveStore } from '../archive/index.js';
import type { Logger } from '../log/index.js';
import { encodeUsage, senderField, TOTAL_FIELD, usageKey } from './keys.js';

/** The Redis calls the mirror makes (ioredis's multi matches). */
export interface MirrorRedis {
  multi(): {
    del(key: string): unknown;
    hset(key: string, values: Record<string, string>): unknown;
    hdel(key: string, ...fields: string[]): unknown;
    expire(key: string, seconds: number): unknown;
    exec(): Promise<unknown>;
  };
}

type Senders = readonly string[] | 'all';

/** How long a recipient's hash outlives its last write. */
export const USAGE_TTL_SECONDS = 900;

export interface UsageMirror {
  /** Writes `recipient`'s totals and the use of `senders` (every sender: the whole hash anew). */
  publish(recipient: string, senders: Senders): void;
  /** The recipient is gone (shredded): its hash too. */
  forget(recipient: string): void;
}

export interface UsageMirrorOptions {
  redis: MirrorRedis;
  prefix: string;
  /** The hash tag of a recipient's shard (its store queue's). */
  tagOf(recipient: string): string;
  archive: Pick<ArchiveStore, 'quotaUsage'>;
  logger: Logger;
}

export function createUsageMirror(o: UsageMirrorOptions): UsageMirror {
  const log = o.logger.child({ module: 'quota' });
  const run = (what: string, tx: ReturnType<MirrorRedis['multi']>): void => {
    tx.exec().catch((err: unknown) => log.warn({ error: (err as Error).message }, `quota use not ${what} in Redis; the owner still checks at store time`));
  };
  return {
    publish(recipient, senders) {
      const use = o.archive.quotaUsage(recipient, senders);
      const key = usageKey(o.prefix, o.tagOf(recipient), recipient);
      const t = use.total;
      const tx = o.redis.multi();
      if (senders === 'all' || t.pendingMessages + t.pendingBytes + t.keptMessages + t.keptBytes === 0) tx.del(key);
      if (t.pendingMessages + t.pendingBytes + t.keptMessages + t.keptBytes > 0) {
        const fields: Record<string, string> = { [TOTAL_FIELD]: encodeUsage(t) };
        for (const [sender, u] of use.senders) fields[senderField(recipient, sender)] = encodeUsage(u);
        tx.hset(key, fields);
        const gone = senders === 'all' ? [] : senders.filter((s) => !use.senders.has(s)).map((s) => senderField(recipient, s));
        if (gone.length > 0) tx.hdel(key, ...gone);
        tx.expire(key, USAGE_TTL_SECONDS);
      }
      run('written', tx);
    },
    forget(recipient) {
      const tx = o.redis.multi();
      tx.del(usageKey(o.prefix, o.tagOf(recipient), recipient));
      run('removed', tx);
    },
  };
}

/** Archive writes that change a recipient's use, and the senders each concerns. */
const CHANGES: Partial<Record<keyof ArchiveStore, (args: unknown[], result: unknown) => Senders | 'gone' | undefined>> = {
  storeIncoming: (a) => [(a[1] as { sender: string }).sender],
  storeIncomingMany: (a) => (a[1] as { sender: string }[]).map((i) => i.sender),
  markDelivered: (a) => [a[2] as string],
  markDeliveredMany: (a) => (a[2] as { sender: string }[]).map((r) => r.sender),
  deleteItems: (_, r) => ((r as number) > 0 ? 'all' : undefined),
  purgeExpired: (_, r) => ((r as { purged: number }).purged > 0 ? 'all' : undefined),
  expireTransit: (_, r) => ((r as { expired: unknown[]; tombstones: number }).expired.length > 0 ? 'all' : undefined),
  shredUser: () => 'gone',
};

/**
 * A view of `archive` whose use-changing writes tell `mirror` once they returned (committed);
 * everything else passes straight through. The write's own result or error is untouched.
 */
export function mirrorWrites<A extends object>(archive: A, mirror: UsageMirror, logger: Logger): A {
  return new Proxy(archive, {
    get(t, name, receiver) {
      const value: unknown = Reflect.get(t, name, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      const change = CHANGES[name as keyof ArchiveStore];
      if (change === undefined) return fn.bind(t);
      return (...args: unknown[]) => {
        const result = fn.apply(t, args);
        try {
          const recipient = args[0] as string;
          const senders = change(args, result);
          if (senders === 'gone') mirror.forget(recipient);
          else if (senders !== undefined) mirror.publish(recipient, senders);
        } catch (err) {
          logger.warn({ module: 'quota', error: (err as Error).message }, 'quota use not published; the owner still checks at store time');
        }
        return result;
      };
    },
  });
}
