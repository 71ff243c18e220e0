// Opens the encrypted stores under the data dir (design.md "Storage"): the archive (per-user files,
// user keys) and the key directory, both keyed from the master key, which is wiped once both have
// derived their keys from it. The only module that receives the master key's source. Used by the
// service and by the operator CLI (status, shred) on the same host.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createArchiveStore, loadMasterKey, type ArchiveStore } from '../archive/index.js';
import type { StoresSlice } from '../config/index.js';
import { openDirectoryStore, type DirectoryStore } from '../directory/index.js';
import { blake2b, initSodium, wipe } from '../keys/index.js';
import type { Logger } from '../log/index.js';

export interface Stores {
  archive: ArchiveStore;
  directory: DirectoryStore;
  /** Closes both (directory, then archive). */
  close(): void;
}

const DIRECTORY_KEY_LABEL = 'sealpost/v1/directory-db';

export async function openStores(slice: StoresSlice, logger: Logger): Promise<Stores> {
  // The service runs no X-Wing: the WebAssembly build stays unloaded where native runs.
  const backend = await initSodium(slice.crypto, { wasm: 'lazy' });
  logger.info({ crypto: backend }, 'libsodium backend');
  mkdirSync(slice.dataDir, { recursive: true, mode: 0o700 });
  const master = await loadMasterKey(slice, logger);
  try {
    const archive = await createArchiveStore({
      dir: join(slice.dataDir, 'archive'),
      masterKey: master,
      cipher: slice.cipher,
      maxOpen: slice.maxOpen,
      retentionSeconds: slice.retentionSeconds,
      logger,
    });
    const directoryKey = blake2b(32, new TextEncoder().encode(DIRECTORY_KEY_LABEL), master);
    try {
      const directory = openDirectoryStore({ path: join(slice.dataDir, 'directory.db'), key: directoryKey, cipher: slice.cipher });
      return {
        archive,
        directory,
        close() {
          directory.close();
          archive.close();
        },
      };
    } catch (err) {
      archive.close();
      throw err;
    } finally {
      wipe(directoryKey);
    }
  } finally {
    wipe(master);
  }
}
export { holdDataDir, takeDataDirOffline, LIVE_LOCK_FILE, type FileLock } from './live.js';
export { deploymentKeys, deriveDeploymentKeys, type DeploymentKeys } from './deployment-keys.js';
