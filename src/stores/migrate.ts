// Moving a data dir of the single layout (`<data>/archive/`, `<data>/directory.db`) to the shard
// layout (issue 15) once, at the start of `sealpost serve`. Files are copied into
// `<data>/shards.migrating/<k>/` (each shard gets its users' archive files, and copies of the
// keyring and directory with the other shards' users removed), then that folder is renamed to
// `<data>/shards` in one step and the old files moved to `<data>/pre-shards/` for the operator to
// remove. A crash before the rename leaves the old layout as it was; the next start begins again.
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createArchiveStore, type ArchiveCipher } from '../archive/index.js';
import { wipe } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { directoryDbKey, shardOf, writeLayoutFile } from '../shards/index.js';
import { checkpoint, openEncryptedDb } from '../sqlite/index.js';

const MARKER = 'migrated-from-single';
const OLD = ['archive', 'directory.db', 'directory.db-wal', 'directory.db-shm'] as const;

/** True when `dataDir` holds the single layout. */
export function hasSingleLayout(dataDir: string): boolean {
  return existsSync(join(dataDir, 'archive', 'keyring.db')) || existsSync(join(dataDir, 'directory.db'));
}

function moveOldAside(dataDir: string): void {
  const aside = join(dataDir, 'pre-shards');
  mkdirSync(aside, { recursive: true, mode: 0o700 });
  for (const name of OLD) if (existsSync(join(dataDir, name))) renameSync(join(dataDir, name), join(aside, name));
}

function copyDb(from: string, to: string): void {
  for (const suffix of ['', '-wal']) if (existsSync(from + suffix)) cpSync(from + suffix, to + suffix);
}

export interface MigrateOptions {
  dataDir: string;
  masterKey: Uint8Array;
  cipher: ArchiveCipher;
  count: number;
  logger: Logger;
}

/** Migrates `dataDir` when it holds the single layout; returns the users moved (0: nothing to do). */
export async function migrateSingleLayout(o: MigrateOptions): Promise<number> {
  const log = o.logger.child({ module: 'migrate' });
  const shards = join(o.dataDir, 'shards');
  if (!hasSingleLayout(o.dataDir)) return 0;
  if (existsSync(join(shards, 'layout.json'))) {
    // Renamed into place, then stopped before the old files went aside: finish that.
    if (existsSync(join(shards, MARKER))) moveOldAside(o.dataDir);
    return 0;
  }
  const tmp = join(o.dataDir, 'shards.migrating');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true, mode: 0o700 });

  const oldArchiveDir = join(o.dataDir, 'archive');
  const users: { jid: string; userHash: string }[] = [];
  if (existsSync(join(oldArchiveDir, 'keyring.db'))) {
    const old = await createArchiveStore({ dir: oldArchiveDir, masterKey: o.masterKey, cipher: o.cipher });
    try {
      for (let after = ''; ; ) {
        const page = old.listUsers({ after, limit: 500 });
        users.push(...page);
        const last = page.at(-1);
        if (last === undefined) break;
        after = last.userHash;
      }
    } finally {
      old.close();
    }
  }
  const oldDirectory = join(o.dataDir, 'directory.db');
  const dbKey = directoryDbKey(o.masterKey);
  try {
    let directoryJids: string[] = [];
    if (existsSync(oldDirectory)) {
      const db = openEncryptedDb({ path: oldDirectory, key: dbKey, cipher: o.cipher });
      try {
        checkpoint(db, 'TRUNCATE');
        directoryJids = db.prepare<[], { jid: string }>('SELECT DISTINCT jid FROM devices').all().map((r) => r.jid);
      } finally {
        db.close();
      }
    }
    for (let k = 0; k < o.count; k++) {
      const dir = join(tmp, String(k));
      const usersDir = join(dir, 'archive', 'users');
      mkdirSync(usersDir, { recursive: true, mode: 0o700 });
      const mine = users.filter((u) => shardOf(u.jid, o.count) === k);
      const foreign = users.filter((u) => shardOf(u.jid, o.count) !== k);
      if (users.length > 0) {
        copyDb(join(oldArchiveDir, 'keyring.db'), join(dir, 'archive', 'keyring.db'));
        for (const u of mine)
          for (const name of readdirSync(join(oldArchiveDir, 'users')).filter((n) => n.startsWith(u.userHash)))
            cpSync(join(oldArchiveDir, 'users', name), join(usersDir, name), { recursive: true });
        // The keyring copy names every user: the other shards' keys leave it (their files are elsewhere).
        const archive = await createArchiveStore({ dir: join(dir, 'archive'), masterKey: o.masterKey, cipher: o.cipher });
        try {
          for (const u of foreign) archive.shredUser(u.jid);
        } finally {
          archive.close();
        }
      }
      if (existsSync(oldDirectory)) {
        copyDb(oldDirectory, join(dir, 'directory.db'));
        const db = openEncryptedDb({ path: join(dir, 'directory.db'), key: dbKey, cipher: o.cipher });
        try {
          const drop = db.prepare<[string]>('DELETE FROM devices WHERE jid = ?');
          db.transaction(() => {
            for (const jid of directoryJids) if (shardOf(jid, o.count) !== k) drop.run(jid);
          })();
        } finally {
          db.close();
        }
      }
    }
  } finally {
    wipe(dbKey);
  }
  // The directory files keep the server key agents pinned (layout.json says so).
  writeLayoutFile(join(tmp, 'layout.json'), { version: 1, count: o.count, ...(existsSync(oldDirectory) ? { serverKey: 'stored' as const } : {}) });
  cpSync(join(tmp, 'layout.json'), join(tmp, MARKER));
  rmSync(shards, { recursive: true, force: true }); // no layout.json: nothing of a shard layout in it
  renameSync(tmp, shards);
  moveOldAside(o.dataDir);
  log.warn({ users: users.length, shards: o.count }, `data dir migrated to ${o.count} shards; the single layout is kept in ${join(o.dataDir, 'pre-shards')} until you remove it`);
  return users.length;
}
