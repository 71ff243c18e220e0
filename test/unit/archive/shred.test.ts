// Crypto-shredding (design.md "Storage", issue 7): the wrapped key is erased (gone from the
// keyring's pages and WAL), the files are removed, and an old copy of the file stays unreadable.
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { deriveArchiveSubkeys } from '../../../src/archive/master-key.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { openEncryptedDb } from '../../../src/sqlite/index.js';
import { caught, fixture, incoming, type Fixture } from './helpers.js';

const BOB = 'bob@example.org';
const ALICE = 'alice@example.org';

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

function wrappedKeyOf(hash: string): Buffer | undefined {
  const sub = deriveArchiveSubkeys(f.masterKey);
  const db = openEncryptedDb({ path: join(f.dir, 'archive', 'keyring.db'), key: sub.keyring, cipher: 'chacha20' });
  try {
    return db.prepare('SELECT wrapped_key FROM user_key WHERE user_hash = ?').pluck().get(hash) as Buffer | undefined;
  } finally {
    db.close();
  }
}

/** The keyring as SQLite sees it after decryption (main file plus WAL), page by page. */
function decryptedKeyringImage(): Buffer {
  const sub = deriveArchiveSubkeys(f.masterKey);
  const db = openEncryptedDb({ path: join(f.dir, 'archive', 'keyring.db'), key: sub.keyring, cipher: 'chacha20' });
  try {
    return db.serialize();
  } finally {
    db.close();
  }
}

describe('shredUser', () => {
  it('erases the wrapped key from the keyring pages and empties its WAL, then removes the files', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    store.storeIncoming(ALICE, incoming(BOB, 'm2'));
    const path = store.userPath(BOB);
    const hash = path.slice(-67, -3);
    const wrapped = wrappedKeyOf(hash);
    expect(wrapped).toHaveLength(24 + 32 + 16);
    expect(decryptedKeyringImage().includes(wrapped ?? Buffer.alloc(1))).toBe(true);
    expect(existsSync(`${path}-wal`)).toBe(true);

    const r = store.shredUser(BOB);
    expect(r).toMatchObject({ keyErased: true, keyringCheckpointed: true });
    // Closing the handle first folds the WAL into the main file, so usually only the .db remains.
    expect(r.filesRemoved).toBeGreaterThanOrEqual(1);

    expect(wrappedKeyOf(hash)).toBeUndefined();
    expect(decryptedKeyringImage().includes(wrapped ?? Buffer.alloc(1))).toBe(false);
    expect(statSync(join(f.dir, 'archive', 'keyring.db-wal')).size).toBe(0);
    for (const s of ['', '-wal', '-shm']) expect(existsSync(path + s)).toBe(false);
    expect(store.hasUser(BOB)).toBe(false);
    expect(store.listUsers().map((u) => u.jid)).toEqual([ALICE]);
    expect(store.query(ALICE, { max: 10 }).items).toHaveLength(1);
  });

  it('leaves the user empty: no history, nothing pending, no file recreated by reads', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    store.shredUser(BOB);
    expect(store.query(BOB, { max: 10, count: true })).toMatchObject({ items: [], count: 0 });
    expect(store.pendingFor(BOB, 101, { limit: 10 })).toEqual([]);
    expect(existsSync(store.userPath(BOB))).toBe(false);
    expect(store.shredUser(BOB)).toEqual({ keyErased: false, keyringCheckpointed: true, filesRemoved: 0 });
  });

  it('makes a saved copy of the old file unreadable, even once the user has a new archive', async () => {
    store.storeIncoming(BOB, incoming(ALICE, 'secret'));
    const path = store.userPath(BOB);
    store.checkpoint(BOB);
    copyFileSync(path, join(f.dir, 'stolen.db'));
    store.shredUser(BOB);
    store.storeIncoming(BOB, incoming(ALICE, 'after'));
    expect(store.query(BOB, { max: 10 }).items.map((i) => i.messageId)).toEqual(['after']);
    store.close();
    copyFileSync(join(f.dir, 'stolen.db'), path);
    const again = await f.open();
    expect(AppError.is(caught(() => again.query(BOB, { max: 10 })), ErrorCode.WrongKey)).toBe(true);
  });

  it('finishes an interrupted shred (key gone, files left) when the user comes back', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'old'));
    const path = store.userPath(BOB);
    store.checkpoint(BOB);
    copyFileSync(path, join(f.dir, 'left.db'));
    store.shredUser(BOB);
    copyFileSync(join(f.dir, 'left.db'), path);
    expect(store.query(BOB, { max: 10 }).items).toEqual([]);
    expect(store.storeIncoming(BOB, incoming(ALICE, 'new')).inserted).toBe(true);
    expect(store.query(BOB, { max: 10 }).items.map((i) => i.messageId)).toEqual(['new']);
  });

  it('another process on the same data dir sees the shred: it neither reads the old archive nor commits into the unlinked file', async () => {
    const other = await f.open(); // a second process on this data dir (its own connections and pool)
    store.storeIncoming(BOB, incoming(ALICE, 'old-1'));
    expect(other.query(BOB, { max: 10 }).items.map((i) => i.messageId)).toEqual(['old-1']); // pooled in `other`
    expect(other.storeIncoming(BOB, incoming(ALICE, 'old-2')).inserted).toBe(true);

    store.shredUser(BOB);
    expect(other.query(BOB, { max: 10 }).items, 'the old archive read through a pooled handle').toEqual([]);
    expect(other.storeIncoming(BOB, incoming(ALICE, 'after')).inserted).toBe(true);
    // The write went to a fresh archive on disk that any process (or a restart) reads back.
    const third = await f.open();
    expect(third.query(BOB, { max: 10 }).items.map((i) => i.messageId)).toEqual(['after']);
  });

  it('a write already past its pool check when the shred runs is refused (retry), not committed into the unlinked file', async () => {
    const other = await f.open();
    other.storeIncoming(BOB, incoming(ALICE, 'old'));
    // `other` holds its handle and is about to write when this process shreds (interleaved by hand).
    const files = (other as unknown as { files: { use<T>(jid: string, create: boolean, fn: (u: { tx<R>(fn: () => R): R }) => T): T | undefined } }).files;
    const err = caught(() =>
      files.use(BOB, false, (u) => {
        store.shredUser(BOB);
        return u.tx(() => 'written');
      }),
    );
    expect(AppError.is(err, ErrorCode.Unavailable), String(err)).toBe(true);
    expect(other.storeIncoming(BOB, incoming(ALICE, 'retried')).inserted).toBe(true);
    expect((await f.open()).query(BOB, { max: 10 }).items.map((i) => i.messageId)).toEqual(['retried']);
  });
});
