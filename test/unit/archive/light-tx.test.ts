// A commit not fsynced (issue 16: delivery attempt counts) is one commit only: the handle is back
// at synchronous=FULL afterwards, also when the transaction failed, and its writes are kept.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openUserDb } from '../../../src/archive/user-db.js';
import { durability } from '../../../src/sqlite/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('UserDb.lightTx', () => {
  it('commits without fsync, then the handle is at synchronous=FULL again, also after a failed transaction', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-light-'));
    dirs.push(dir);
    const u = openUserDb(join(dir, 'u.db'), new Uint8Array(randomBytes(32)), 'chacha20', 'h', 'bob@example.org');
    try {
      let inside = -1;
      u.lightTx(() => {
        inside = durability(u.db).synchronous;
        u.setMeta('probe', 1);
      });
      expect(inside).toBe(1); // NORMAL for that commit
      expect(durability(u.db).synchronous).toBe(2);
      expect(u.meta('probe')).toBe(1);
      expect(() =>
        u.lightTx(() => {
          u.setMeta('probe', 2);
          throw new Error('fails inside');
        }),
      ).toThrow('fails inside');
      expect(durability(u.db).synchronous).toBe(2);
      expect(u.meta('probe')).toBe(1); // rolled back
    } finally {
      u.close();
    }
  });
});
