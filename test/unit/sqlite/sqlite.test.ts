// src/sqlite: encrypted open (chacha20/aegis, raw key), wrong key, corruption, durability pragmas,
// migrations. Real files in a temp dir per test.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The binding itself, used here only as an independent oracle for the raw-key syntax.
import Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import {
  checkpoint,
  DB_CIPHERS,
  durability,
  mapSqliteError,
  migrate,
  openEncryptedDb,
  verifyPages,
  type Db,
  type DbCipher,
} from '../../../src/sqlite/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealpost-sqlite-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function fill(db: Db, rows: number, text = 'row'): void {
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, s TEXT, b BLOB)');
  const ins = db.prepare('INSERT INTO t (s, b) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`${text}-${i}`, randomBytes(300));
  })();
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe.each(DB_CIPHERS)('openEncryptedDb with %s', (cipher: DbCipher) => {
  it('asserts WAL and synchronous=FULL after open', () => {
    const db = openEncryptedDb({ path: join(dir, 'a.db'), key: randomBytes(32), cipher });
    expect(durability(db)).toEqual({ journalMode: 'wal', synchronous: 2 });
    expect(db.pragma('cipher', { simple: true })).toBe(cipher);
    expect(db.pragma('temp_store', { simple: true })).toBe(2);
    db.close();
  });

  it('reopens with the same key and keeps the data', () => {
    const key = randomBytes(32);
    const path = join(dir, 'a.db');
    const db = openEncryptedDb({ path, key, cipher });
    fill(db, 10);
    db.close();
    const again = openEncryptedDb({ path, key, cipher, mustExist: true });
    expect(again.prepare('SELECT count(*) FROM t').pluck().get()).toBe(10);
    again.close();
  });

  it('refuses a wrong key with a clear WrongKey error, not garbage', () => {
    const path = join(dir, 'a.db');
    const db = openEncryptedDb({ path, key: randomBytes(32), cipher });
    fill(db, 3);
    db.close();
    const err = caught(() => openEncryptedDb({ path, key: randomBytes(32), cipher }));
    expect(AppError.is(err, ErrorCode.WrongKey)).toBe(true);
    expect((err as Error).message).toMatch(/wrong at-rest key/);
  });

  it('uses the key raw: the documented x-hex and raw: forms open the file, a passphrase does not', () => {
    const key = randomBytes(32);
    const path = join(dir, 'a.db');
    const db = openEncryptedDb({ path, key, cipher });
    fill(db, 2);
    db.close();
    const hex = key.toString('hex');
    const tryKey = (pragma: string): boolean => {
      const raw = new Database(path, { fileMustExist: true });
      try {
        raw.pragma(`cipher = '${cipher}'`);
        if (cipher === 'aegis') raw.pragma("algorithm = 'aegis-256'");
        raw.pragma(pragma);
        return raw.prepare('SELECT count(*) FROM t').pluck().get() === 2;
      } catch {
        return false;
      } finally {
        raw.close();
      }
    };
    expect(tryKey(`key = "x'${hex}'"`)).toBe(true);
    expect(tryKey(`key = 'raw:${hex}'`)).toBe(true);
    expect(tryKey(`key = '${hex}'`)).toBe(false);
  });

  it('stores no plaintext in the main file or the WAL', () => {
    const path = join(dir, 'a.db');
    const canary = `canary-${randomBytes(8).toString('hex')}`;
    const db = openEncryptedDb({ path, key: randomBytes(32), cipher });
    db.exec('CREATE TABLE t (s TEXT, b BLOB)');
    db.prepare('INSERT INTO t VALUES (?, ?)').run(canary, Buffer.from(canary));
    const wal = readFileSync(`${path}-wal`);
    expect(wal.length).toBeGreaterThan(0);
    expect(wal.includes(canary)).toBe(false);
    checkpoint(db);
    db.close();
    const main = readFileSync(path);
    expect(main.includes(canary)).toBe(false);
    expect(main.includes('SQLite format 3')).toBe(false);
  });

  it('detects one flipped byte in any page after the first as Corrupt', () => {
    const key = randomBytes(32);
    const path = join(dir, 'a.db');
    const db = openEncryptedDb({ path, key, cipher });
    fill(db, 60);
    db.exec('CREATE INDEX t_s ON t (s)');
    db.close();
    const pristine = readFileSync(path);
    const pageSize = 4096;
    const pages = pristine.length / pageSize;
    expect(pages).toBeGreaterThan(5);
    for (let page = 1; page < pages; page++) {
      const copy = Buffer.from(pristine);
      const at = page * pageSize + 1000 + (page % 7);
      copy[at] = (copy[at] ?? 0) ^ 0x01;
      writeFileSync(path, copy);
      const err = caught(() => {
        const d = openEncryptedDb({ path, key, cipher });
        try {
          verifyPages(d);
        } finally {
          d.close();
        }
      });
      expect(AppError.is(err, ErrorCode.Corrupt), `page ${page + 1}`).toBe(true);
    }
  });
});

describe('openEncryptedDb refusals', () => {
  it.each(['aes128cbc', 'aes256cbc', 'sqlcipher', 'rc4', 'ascon128', ''])(
    'refuses cipher %j before touching the disk',
    (cipher) => {
      const path = join(dir, 'x.db');
      const err = caught(() =>
        openEncryptedDb({ path, key: randomBytes(32), cipher: cipher as DbCipher }),
      );
      expect(AppError.is(err, ErrorCode.Config)).toBe(true);
      expect(existsSync(path)).toBe(false);
    },
  );

  it('refuses a key that is not 32 bytes', () => {
    expect(() =>
      openEncryptedDb({ path: join(dir, 'x.db'), key: randomBytes(16), cipher: 'chacha20' }),
    ).toThrow(RangeError);
  });

  it('reports a missing file as NotFound when it must exist', () => {
    const err = caught(() =>
      openEncryptedDb({
        path: join(dir, 'missing.db'),
        key: randomBytes(32),
        cipher: 'chacha20',
        mustExist: true,
      }),
    );
    expect(AppError.is(err, ErrorCode.NotFound)).toBe(true);
  });

  it('reads a flipped data page as Corrupt on an ordinary query', () => {
    const key = randomBytes(32);
    const path = join(dir, 'a.db');
    const db = openEncryptedDb({ path, key, cipher: 'chacha20' });
    fill(db, 60);
    db.close();
    const buf = readFileSync(path);
    const at = 3 * 4096 + 2000;
    buf[at] = (buf[at] ?? 0) ^ 0x80;
    writeFileSync(path, buf);
    const d = openEncryptedDb({ path, key, cipher: 'chacha20' });
    const err = caught(() => d.prepare('SELECT sum(length(b)) FROM t').get());
    d.close();
    expect(AppError.is(mapSqliteError(err, 'read'), ErrorCode.Corrupt)).toBe(true);
  });
});

describe('migrate', () => {
  const V1 = 'CREATE TABLE a (x INTEGER);';
  const V2 = 'CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (1);';

  function open(): Db {
    return openEncryptedDb({ path: join(dir, 'm.db'), key: Buffer.alloc(32, 7), cipher: 'chacha20' });
  }

  it('applies each migration once and records the version in user_version', () => {
    const db = open();
    expect(migrate(db, [V1])).toEqual({ from: 0, to: 1 });
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(migrate(db, [V1, V2])).toEqual({ from: 1, to: 2 });
    expect(migrate(db, [V1, V2])).toEqual({ from: 2, to: 2 });
    expect(db.prepare('SELECT count(*) FROM b').pluck().get()).toBe(1);
    db.close();
  });

  it('rolls back every step of a failing run, leaving the version unchanged', () => {
    const db = open();
    expect(() => migrate(db, [V1, V2, 'CREATE TABLE broken ('])).toThrow();
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).toEqual([]);
    db.close();
  });

  it('refuses a file whose schema is newer than the code', () => {
    const db = open();
    migrate(db, [V1, V2]);
    const err = caught(() => migrate(db, [V1]));
    expect(AppError.is(err, ErrorCode.Config)).toBe(true);
    db.close();
  });
});

describe('checkpoint', () => {
  it('empties the WAL into the main file with TRUNCATE', () => {
    const path = join(dir, 'c.db');
    const db = openEncryptedDb({ path, key: randomBytes(32), cipher: 'chacha20' });
    fill(db, 20);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    const r = checkpoint(db, 'TRUNCATE');
    expect(r.busy).toBe(false);
    expect(statSync(`${path}-wal`).size).toBe(0);
    db.close();
  });
});
