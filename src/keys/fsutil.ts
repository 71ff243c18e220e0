// Atomic, owner-only file writes for the trust store and the key store (design.md, "Storage":
// secrets at rest): write a temporary file with mode 0600 in the same directory, fsync, rename
// over the target, fsync the directory. A crash leaves either the old file or the new one.
import { chmod, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { randomBytes } from './sodium.js';

export const OWNER_ONLY = 0o600;

export async function atomicWriteFile(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Buffer.from(randomBytes(6)).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', OWNER_ONLY);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, OWNER_ONLY); // in case a umask or ACL widened it
    await rename(tmp, path);
  } catch (cause) {
    await unlink(tmp).catch(() => undefined);
    throw new AppError(ErrorCode.Unavailable, `cannot write ${path}`, { cause });
  }
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Refuses a secret file that others may read (as ssh does for private keys). */
export async function checkOwnerOnly(path: string): Promise<void> {
  const st = await stat(path);
  if ((st.mode & 0o077) !== 0)
    throw new AppError(
      ErrorCode.Policy,
      `${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600`,
    );
}
