// A blob's lifetime follows its message (issue 17): kept while the recipient's archive stores the
// manifest message with its payload (pending delivery, or a history copy), erased once that row is
// gone (deleted, purged by retention, expired in transit, delivered without a history copy).
// A blob whose message never came (the sender gave up) is erased after the transit TTL.
// Shredding removes the user's whole file folder with the archive (src/archive).
import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ArchiveStore } from '../archive/index.js';
import type { Logger } from '../log/index.js';

export interface SweepDeps {
  archive: ArchiveStore;
  transitTtlSeconds: number;
  logger: Logger;
  now: () => number;
}

/** One pass over every user's blobs; returns how many were erased. */
/** A PUT body's part file left by a process that died mid-request (http.ts removes its own). */
const STALE_PART_MS = 3_600_000;

export function sweepBlobs(d: SweepDeps): number {
  const blobs = d.archive.blobs;
  const log = d.logger.child({ module: 'upload-sweep' });
  let erased = 0;
  for (const hash of blobs.users()) {
    try {
      const dir = dirname(blobs.dataPath(hash, 'A'.repeat(22)));
      for (const name of readdirSync(dir))
        if (name.endsWith('.part') && d.now() - statSync(join(dir, name)).mtimeMs > STALE_PART_MS) rmSync(join(dir, name), { force: true });
    } catch (err) {
      log.warn({ error: (err as Error).message }, 'stale upload parts not swept');
    }
    for (const slot of blobs.list(hash)) {
      try {
        const meta = blobs.read(hash, slot);
        if (meta === undefined) continue;
        const held = d.archive.holdsMessage(meta.owner, meta.sender, meta.messageId);
        if (held) {
          if (!meta.referenced) blobs.write(hash, slot, { ...meta, referenced: true });
          continue;
        }
        const stale = d.now() - meta.createdAt > d.transitTtlSeconds * 1000;
        if (!meta.referenced && !stale) continue; // its message may still be on its way
        blobs.remove(hash, slot);
        erased++;
      } catch (err) {
        log.warn({ error: (err as Error).message }, 'blob sweep failed for one slot');
      }
    }
  }
  if (erased > 0) log.info({ erased }, 'blobs erased with their messages');
  return erased;
}
