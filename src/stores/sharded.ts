// The stores of the shards this process owns, seen as one archive and one key directory (issue 15):
// each call that names a user goes to the user's shard (shardOf, the same map the queues use), so
// the surfaces written for one store (MAM, the directory IQs, receipts, delivery, uploads, the
// operator commands) work unchanged on a node. A user whose shard is not owned here is refused
// with AppError(Unavailable): its owner answers it (routed IQs) or the job runs there.
import { AppError, ErrorCode } from '../errors/index.js';
import { DEFAULT_LIMITS, type ArchiveStore, type BlobStore, type UserRef } from '../archive/index.js';
import type { DirectoryStore } from '../directory/index.js';
import { shardOf, type ShardStores } from '../shards/index.js';

export interface ShardedStores {
  readonly count: number;
  /** Every user's archive, routed to its shard. */
  readonly archive: ArchiveStore;
  /** Every user's directory entries, routed to its shard. */
  readonly directory: DirectoryStore;
  /** The shard's stores when owned here. */
  get(shard: number): ShardStores | undefined;
  /** The owned shard of `jid`. */
  of(jid: string): ShardStores | undefined;
  owned(): number[];
  attach(stores: ShardStores): void;
  /** Forgets the shard (its owner closes its stores). */
  detach(shard: number): ShardStores | undefined;
}

/** Archive methods that take no user, answered over every owned shard. */
const ARCHIVE_ALL = new Set<PropertyKey>(['listUsers', 'openCount', 'limits', 'close', 'blobs']);

/** `serverPublicKey`: the derived key, or undefined when each shard keeps its own (a migrated install). */
export function createShardedStores(count: number, serverPublicKey: Uint8Array | undefined, closeAll: () => void = () => undefined): ShardedStores {
  const shards = new Map<number, ShardStores>();
  const hashes = new Map<string, number>();
  const must = (jid: unknown): ShardStores => {
    if (typeof jid !== 'string') throw new TypeError('jid: expected a string');
    const k = shardOf(jid, count);
    const s = shards.get(k);
    if (s === undefined) throw new AppError(ErrorCode.Unavailable, `shard ${k} is not owned by this node; its owner answers for this user`);
    return s;
  };
  const all = (): ShardStores[] => [...shards.values()];

  const byHash = (hash: unknown): BlobStore => {
    const k = typeof hash === 'string' ? hashes.get(hash) : undefined;
    const s = k === undefined ? all().find((x) => x.archive.blobs.users().includes(hash as string)) : shards.get(k);
    if (s === undefined) throw new AppError(ErrorCode.NotFound, 'no such file');
    return s.archive.blobs;
  };
  const blobs = new Proxy({} as BlobStore, {
    get(_t, name) {
      if (name === 'users') return () => all().flatMap((s) => s.archive.blobs.users());
      if (name === 'close') return () => undefined;
      return (hash: string, ...rest: unknown[]) => {
        const b = byHash(hash);
        return (Reflect.get(b, name) as (...a: unknown[]) => unknown).call(b, hash, ...rest);
      };
    },
  });

  const listUsers = (opts: { after?: string; limit?: number } = {}): UserRef[] => {
    const limit = opts.limit ?? 100;
    return all()
      .flatMap((s) => s.archive.listUsers({ ...opts, limit }))
      .sort((a, b) => (a.userHash < b.userHash ? -1 : a.userHash > b.userHash ? 1 : 0))
      .slice(0, limit);
  };

  const archive = new Proxy({} as ArchiveStore, {
    get(_t, name) {
      if (!ARCHIVE_ALL.has(name))
        return (jid: string, ...rest: unknown[]) => {
          const a = must(jid).archive;
          const out = (Reflect.get(a, name) as (...x: unknown[]) => unknown).call(a, jid, ...rest);
          if (name === 'userHash' && typeof out === 'string') hashes.set(out, shardOf(jid, count));
          return out;
        };
      if (name === 'listUsers') return listUsers;
      if (name === 'blobs') return blobs;
      if (name === 'openCount') return all().reduce((n, s) => n + s.archive.openCount, 0);
      if (name === 'limits') return all()[0]?.archive.limits ?? DEFAULT_LIMITS;
      return closeAll; // close: the shards' owner decides (openStores: every shard)
    },
  });

  const directory = new Proxy({} as DirectoryStore, {
    get(_t, name) {
      if (name === 'serverPublicKey') return serverPublicKey ?? (all()[0] ?? must('')).directory.serverPublicKey;
      if (name === 'close') return closeAll;
      if (name === 'eraseExpired')
        return (before: number, limit: number) => {
          const out: { jid: string; device: number }[] = [];
          for (const s of all()) if (out.length < limit) out.push(...s.directory.eraseExpired(before, limit - out.length));
          return out;
        };
      // publish(bundle, ...) names its user inside the bundle.
      return (first: unknown, ...rest: unknown[]) => {
        const jid = name === 'publish' ? (first as { jid: string }).jid : first;
        const d = must(jid).directory;
        return (Reflect.get(d, name) as (...x: unknown[]) => unknown).call(d, first, ...rest);
      };
    },
  });

  return {
    count,
    archive,
    directory,
    get: (k) => shards.get(k),
    of: (jid) => shards.get(shardOf(jid, count)),
    owned: () => [...shards.keys()].sort((a, b) => a - b),
    attach(s) {
      shards.set(s.shard, s);
      for (const h of s.archive.blobs.users()) hashes.set(h, s.shard);
    },
    detach(k) {
      const s = shards.get(k);
      shards.delete(k);
      for (const [h, v] of hashes) if (v === k) hashes.delete(h);
      return s;
    },
  };
}
