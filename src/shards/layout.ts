// A data root's shard layout (issue 15): `<data>/shards/layout.json` records the shard count fixed
// at install, `<data>/root-id` this data root's id (the lease holder's name); `<data>/shards/<k>/`
// holds everything of shard k (archive, pending and delivery state, directory entries, its fence),
// so a shard moves as one directory.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { checkShardCount } from './map.js';

export interface ShardLayout {
  readonly root: string;
  readonly count: number;
  /** Stable id of this data root, e.g. `n-3f9a…`: the lease holder's name. */
  readonly node: string;
  /** `<root>/shards/<k>`. */
  dir(shard: number): string;
  /** Shard indexes whose directory exists under this root. */
  present(): number[];
  /**
   * True for a data dir migrated from the single layout: every shard's directory file keeps the
   * server key agents pinned, instead of the one derived from the master key.
   */
  readonly storedServerKey: boolean;
}

export interface LayoutFile {
  version: 1;
  count: number;
  serverKey?: 'stored';
}

const ROOT_ID = /^n-[0-9a-f]{16}$/;

/** The id of data root `root` (`<root>/root-id`), created on first use: it moves with the data. */
export function dataRootId(root: string): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const path = join(root, 'root-id');
  if (existsSync(path)) {
    const id = readFileSync(path, 'utf8').trim();
    if (!ROOT_ID.test(id)) throw new AppError(ErrorCode.Corrupt, `${path}: not a data root id`);
    return id;
  }
  const id = `n-${randomBytes(8).toString('hex')}`;
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${id}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  return id;
}

function readLayout(path: string): LayoutFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AppError(ErrorCode.Corrupt, `${path}: not readable JSON`, { cause: err });
  }
  const p = parsed as Partial<LayoutFile>;
  if (p.version !== 1 || typeof p.count !== 'number' || (p.serverKey !== undefined && p.serverKey !== 'stored'))
    throw new AppError(ErrorCode.Corrupt, `${path}: unknown layout`);
  return { version: 1, count: p.count, ...(p.serverKey === undefined ? {} : { serverKey: p.serverKey }) };
}

/**
 * Opens (or creates, on first start) the shard layout of `root`. The count is fixed at install:
 * a different `count` later is refused, since every user would map to another shard.
 */
export function openShardLayout(root: string, count: number): ShardLayout {
  checkShardCount(count);
  const base = join(root, 'shards');
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const path = join(base, 'layout.json');
  let file: LayoutFile;
  if (existsSync(path)) {
    file = readLayout(path);
    if (file.count !== count)
      throw new AppError(
        ErrorCode.Config,
        `${root} was installed with ${file.count} shards; SEALPOST_SHARD_COUNT=${count} refused (the count is fixed at install: set it back to ${file.count})`,
      );
  } else {
    file = { version: 1, count };
    writeLayoutFile(path, file);
  }
  return layoutOf(root, file.count, dataRootId(root), file.serverKey === 'stored');
}

/** Writes `<base>/layout.json` whole (a temp file renamed over it). */
export function writeLayoutFile(path: string, file: LayoutFile): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

function layoutOf(root: string, count: number, node: string, storedServerKey: boolean): ShardLayout {
  const base = join(root, 'shards');
  return Object.freeze({
    root,
    count,
    node,
    dir: (shard: number) => {
      if (!Number.isInteger(shard) || shard < 0 || shard >= count) throw new RangeError(`shard: expected 0..${count - 1}, got ${shard}`);
      return join(base, String(shard));
    },
    present: () => presentShards(base, count),
    storedServerKey,
  });
}

/** Shard directories (`<k>` with 0 <= k < count) directly under `base`. */
export function presentShards(base: string, count: number): number[] {
  if (!existsSync(base)) return [];
  return readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^(0|[1-9]\d*)$/.test(e.name) && Number(e.name) < count)
    .map((e) => Number(e.name))
    .sort((a, b) => a - b);
}
