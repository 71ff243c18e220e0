// Who holds a data dir (issue 14, attack 8): every service process takes a shared lock on
// `<data>/service.lock` for as long as it runs; an offline operator command that changes stores
// (`sealpost shred --offline`) takes it exclusively, so it refuses to run beside a live service
// (whose pooled handles would outlive its changes) and a service cannot start in the middle of it.
// SQLite's file locks (src/sqlite): the OS drops them with the process, so a crash leaves none.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { lockExclusive, lockShared, type FileLock } from '../sqlite/index.js';

export type { FileLock } from '../sqlite/index.js';

export const LIVE_LOCK_FILE = 'service.lock';

const lockPath = (dataDir: string): string => {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return join(dataDir, LIVE_LOCK_FILE);
};

/** The service's shared hold on its data dir; waits `timeoutMs` for an offline command to finish. */
export function holdDataDir(dataDir: string, timeoutMs = 10_000): FileLock {
  const lock = lockShared(lockPath(dataDir), timeoutMs);
  if (lock !== undefined) return lock;
  throw new AppError(ErrorCode.Unavailable, `an offline operator command holds ${dataDir} (${LIVE_LOCK_FILE}); start the service when it has finished`);
}

/** An offline command's exclusive hold on the data dir; AppError(Unavailable) while a service runs on it. */
export function takeDataDirOffline(dataDir: string): FileLock {
  const lock = lockExclusive(lockPath(dataDir));
  if (lock !== undefined) return lock;
  throw new AppError(
    ErrorCode.Unavailable,
    `a running sealpost service holds ${dataDir}: its open archives would outlive an offline change. ` +
      'Ask the service instead (leave out --offline), or stop every service on this data dir first',
  );
}
