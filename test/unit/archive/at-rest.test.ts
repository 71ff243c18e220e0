// At-rest protection of the archive: keyed file names, no JID/id/blob bytes in any raw file, wrong
// master or per-user key refused with WrongKey, a flipped byte detected as Corrupt, schema version.
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArchiveStore, type ArchiveStore } from '../../../src/archive/index.js';
import { UserKeys } from '../../../src/archive/user-keys.js';
import { deriveArchiveSubkeys } from '../../../src/archive/master-key.js';
import { USER_MIGRATIONS } from '../../../src/archive/schema.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { durability, openEncryptedDb } from '../../../src/sqlite/index.js';
import { bytes, caught, fixture, incoming, outgoing, type Fixture } from './helpers.js';

const BOB = 'bob.canary-owner@example.org';
const ALICE = 'alice.canary-peer@example.org';

let f: Fixture;
let store: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  store = await f.open();
});
afterEach(() => f.cleanup());

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('file names', () => {
  it('names a user file by a 64-hex keyed hash that contains no part of the JID', () => {
    const name = basename(store.userPath(BOB));
    expect(name).toMatch(/^[0-9a-f]{64}\.db$/);
    for (const part of ['bob', 'canary', 'example', 'org']) expect(name).not.toContain(part);
    expect(store.userPath('BOB.Canary-Owner@EXAMPLE.org')).toBe(store.userPath(BOB));
    expect(store.userPath(ALICE)).not.toBe(store.userPath(BOB));
  });

  it('derives names from the master key, so another key gives other names', async () => {
    const other = await createArchiveStore({ dir: join(f.dir, 'other'), masterKey: bytes(32), cipher: 'chacha20' });
    expect(basename(other.userPath(BOB))).not.toBe(basename(store.userPath(BOB)));
    other.close();
  });
});

describe('raw files', () => {
  it('contain no JID, message id, or payload and key block bytes, while open and after close', () => {
    const canary = Buffer.from('CANARY-PAYLOAD-0123456789abcdef'.repeat(8));
    const item = { ...incoming(ALICE, 'canary-message-id-42', [1, 2]), payload: new Uint8Array(canary) };
    store.storeIncoming(BOB, item);
    store.storeOutgoing(ALICE, { ...outgoing(BOB, 'canary-message-id-43'), payload: new Uint8Array(canary) });
    const needles = [
      Buffer.from(BOB), Buffer.from(ALICE), Buffer.from('canary-peer'), Buffer.from('canary-message-id'),
      canary.subarray(0, 32), Buffer.from(item.deviceBlocks[0]?.block ?? []), Buffer.from(item.archiveBlock?.block ?? []),
    ];
    const scan = (open: boolean) => {
      const files = allFiles(f.dir);
      expect(files.some((p) => p.endsWith('.db-wal'))).toBe(open);
      for (const p of files) {
        const raw = readFileSync(p);
        for (const n of needles) expect(raw.includes(n), `${basename(p)} leaks`).toBe(false);
      }
    };
    scan(true);
    store.close();
    scan(false);
  });
});

describe('wrong keys', () => {
  it('refuses the archive under a wrong master key with WrongKey', async () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    store.close();
    const err = await createArchiveStore({ dir: join(f.dir, 'archive'), masterKey: bytes(32), cipher: 'chacha20' }).catch((e: unknown) => e);
    expect(AppError.is(err, ErrorCode.WrongKey)).toBe(true);
    expect((err as Error).message).toMatch(/wrong at-rest key/);
  });

  it('refuses to start when keyring.db is lost but archive files exist, deleting nothing', async () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    const path = store.userPath(BOB);
    store.close();
    for (const s of ['', '-wal', '-shm']) rmSync(join(f.dir, 'archive', `keyring.db${s}`), { force: true });
    const err = await f.open().catch((e: unknown) => e);
    expect(AppError.is(err, ErrorCode.Config)).toBe(true);
    expect((err as Error).message).toMatch(/restore keyring\.db/);
    expect(readFileSync(path).length).toBeGreaterThan(0);
  });

  it("refuses another user's file put under this user's name with WrongKey", async () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    store.storeIncoming(ALICE, incoming(BOB, 'm2'));
    const [bobPath, alicePath] = [store.userPath(BOB), store.userPath(ALICE)];
    store.close();
    copyFileSync(alicePath, bobPath);
    for (const s of ['-wal', '-shm']) rmSync(bobPath + s, { force: true });
    const again = await f.open();
    expect(AppError.is(caught(() => again.query(BOB, { max: 10 })), ErrorCode.WrongKey)).toBe(true);
    expect(again.query(ALICE, { max: 10 }).items).toHaveLength(1);
  });

  it('encrypts each user file with its own key, unwrapped from the keyring (schema at v1, WAL)', () => {
    store.storeIncoming(BOB, incoming(ALICE, 'm1'));
    const sub = deriveArchiveSubkeys(f.masterKey);
    const keyring = UserKeys.open(join(f.dir, 'archive', 'keyring.db'), sub.keyring, sub.wrap, 'chacha20');
    const hash = basename(store.userPath(BOB), '.db');
    const bobKey = keyring.userKey(hash, BOB, false, 0)?.key;
    const aliceKey = keyring.userKey(basename(store.userPath(ALICE), '.db'), ALICE, true, 0)?.key;
    expect(bobKey).toHaveLength(32);
    expect(Buffer.from(bobKey ?? []).equals(Buffer.from(aliceKey ?? []))).toBe(false);
    const db = openEncryptedDb({ path: store.userPath(BOB), key: bobKey ?? new Uint8Array(32), cipher: 'chacha20' });
    expect(db.pragma('user_version', { simple: true })).toBe(USER_MIGRATIONS.length);
    expect(durability(db)).toEqual({ journalMode: 'wal', synchronous: 2 });
    expect(db.prepare("SELECT v FROM meta WHERE k = 'owner'").pluck().get()).toBe(BOB);
    db.close();
    expect(caught(() => keyring.userKey(hash, ALICE, false, 0))).toBeInstanceOf(AppError);
    keyring.close();
  });
});

describe('corruption', () => {
  it('reports one flipped byte in a page of a user file as Corrupt, on every read', async () => {
    for (let i = 0; i < 30; i++) store.storeIncoming(BOB, incoming(ALICE, `m${i}`, [1], { payloadBytes: 2048 }));
    const path = store.userPath(BOB);
    store.close();
    const raw = readFileSync(path);
    const pages = raw.length / 4096;
    expect(pages).toBeGreaterThan(10);
    // A page in the middle of the file: message rows and their payload overflow pages live there.
    const at = Math.floor(pages * 0.6) * 4096 + 1234;
    raw[at] = (raw[at] ?? 0) ^ 0x10;
    writeFileSync(path, raw);
    const again = await f.open();
    const read = () => again.query(BOB, { max: 1000 }).items.map((i) => i.payload.length);
    expect(AppError.is(caught(read), ErrorCode.Corrupt)).toBe(true);
    expect(AppError.is(caught(read), ErrorCode.Corrupt)).toBe(true);
    expect(AppError.is(caught(() => again.verify(BOB)), ErrorCode.Corrupt)).toBe(true);
  });

  it('refuses every call after close instead of guessing paths', () => {
    store.close();
    expect(AppError.is(caught(() => store.userPath(BOB)), ErrorCode.Unavailable)).toBe(true);
    expect(AppError.is(caught(() => store.storeIncoming(BOB, incoming(ALICE, 'x'))), ErrorCode.Unavailable)).toBe(true);
  });
});
