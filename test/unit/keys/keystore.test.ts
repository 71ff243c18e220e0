// The agent key store (issue 3): one file, mode 0600, XChaCha20-Poly1305 under Argon2id of a
// passphrase or a raw key; wrong secrets and damaged files give clear, distinct errors.
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agent, appError, sealFor, T0, text } from './helpers.js';
import {
  AgentKeyFile,
  decodeAgentSecrets,
  encodeAgentSecrets,
  ErrorCode,
  KeyStoreFile,
  MemoryTrustStore,
  open,
  pwhashMinimum,
  randomBytes,
} from './imports.js';

const cheap = { passphrase: 'correct horse battery staple', limits: pwhashMinimum() };
let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sealpost-keys-'));
  path = join(dir, 'agent.keys');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key store file', () => {
  it('round-trips under a passphrase, mode 0600, with no plaintext on disk', async () => {
    const secret = text('the secret state SECRET-CANARY');
    (await KeyStoreFile.create(path, cheap, secret)).close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readFile(path)).includes(Buffer.from('SECRET-CANARY'))).toBe(false);
    const { plaintext } = await KeyStoreFile.open(path, { passphrase: cheap.passphrase });
    expect(plaintext).toEqual(text('the secret state SECRET-CANARY'));
  });

  it('records the Argon2id limits it was created with', async () => {
    await KeyStoreFile.create(path, { passphrase: 'p', limits: { opsLimit: 2, memLimit: 8 * 1024 * 1024 } }, text('x'));
    const b = await readFile(path);
    expect(b.subarray(0, 4).toString()).toBe('SPKS');
    expect(b.readUInt32BE(6)).toBe(2);
    expect(b.readUInt32BE(10)).toBe(8 * 1024);
  });

  it('says clearly that the passphrase is wrong', async () => {
    await KeyStoreFile.create(path, cheap, text('x'));
    const err = await appError(() => KeyStoreFile.open(path, { passphrase: 'Correct horse battery staple' }));
    expect(err.code).toBe(ErrorCode.WrongKey);
    expect(err.message).toBe(`wrong passphrase for key store ${path}`);
  });

  it('round-trips under a raw 32-byte key and refuses another key or a passphrase', async () => {
    const key = randomBytes(32);
    await KeyStoreFile.create(path, { key }, text('raw'));
    expect((await KeyStoreFile.open(path, { key })).plaintext).toEqual(text('raw'));
    expect((await appError(() => KeyStoreFile.open(path, { key: randomBytes(32) }))).code).toBe(ErrorCode.WrongKey);
    expect((await appError(() => KeyStoreFile.open(path, cheap))).code).toBe(ErrorCode.WrongKey);
    await expect(KeyStoreFile.open(path, { key: new Uint8Array(16) })).rejects.toThrow(RangeError);
  });

  it('tells a damaged body (Corrupt) from a wrong key, and refuses truncation', async () => {
    await KeyStoreFile.create(path, cheap, text('some state'));
    const good = await readFile(path);
    const body = Buffer.from(good);
    body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 1;
    await writeFile(path, body, { mode: 0o600 });
    expect((await appError(() => KeyStoreFile.open(path, cheap))).code).toBe(ErrorCode.Corrupt);
    const salt = Buffer.from(good);
    salt[20] = (salt[20] ?? 0) ^ 1;
    await writeFile(path, salt);
    expect((await appError(() => KeyStoreFile.open(path, cheap))).code).toBe(ErrorCode.WrongKey);
    for (const n of [0, 3, 10, 30, 50, good.length - 1]) {
      await writeFile(path, good.subarray(0, n));
      const err = await appError(() => KeyStoreFile.open(path, cheap));
      expect([ErrorCode.Corrupt, ErrorCode.WrongKey], `truncated to ${n}`).toContain(err.code);
    }
  });

  it('refuses a header that demands absurd Argon2id work', async () => {
    await KeyStoreFile.create(path, cheap, text('x'));
    const b = Buffer.from(await readFile(path));
    b.writeUInt32BE(1000, 6);
    await writeFile(path, b);
    expect((await appError(() => KeyStoreFile.open(path, cheap))).code).toBe(ErrorCode.Corrupt);
  });

  it('refuses a key file that others can read', async () => {
    await KeyStoreFile.create(path, cheap, text('x'));
    await chmod(path, 0o644);
    expect((await appError(() => KeyStoreFile.open(path, cheap))).code).toBe(ErrorCode.Policy);
  });

  it('reports a missing file as not found', async () => {
    expect((await appError(() => KeyStoreFile.open(join(dir, 'none'), cheap))).code).toBe(ErrorCode.NotFound);
  });
});

describe('agent key file', () => {
  it('keeps the key state and seen ids across restarts: a consumed prekey stays consumed and a replay is refused', async () => {
    const bob = agent('bob@example.org', { opks: 3, archive: true });
    const alice = agent('alice@example.org');
    const f1 = await AgentKeyFile.create(path, cheap, bob);
    const env = sealFor(alice, [bob], text('hello'));
    const trust = new MemoryTrustStore();
    const me = { jid: 'bob@example.org', device: bob.identity.device };
    const opened = await open(env, { me, prekeys: f1.keyring, trust, replay: f1.replay, now: () => T0 });
    expect(opened.prekey.kind).toBe('opk');
    await f1.save();
    f1.close();
    expect(await readdir(dir)).toEqual(['agent.keys']);

    const f2 = await AgentKeyFile.open(path, cheap);
    expect(f2.state.oneTimePrekeys.map((p) => p.id)).not.toContain(opened.prekey.id);
    expect(f2.state.oneTimePrekeys).toHaveLength(2);
    expect(f2.state.archiveKey?.publicKey).toEqual(bob.archiveKey?.publicKey);
    const c = { me, prekeys: f2.keyring, trust, replay: f2.replay, now: () => T0 };
    expect((await appError(() => open(env, c))).code).toBe(ErrorCode.Replay);
    f2.close();
  });

  it('state codec refuses a state whose public key does not match its secret, and any truncation', async () => {
    const s = agent('bob@example.org', { opks: 1 });
    const bytes = encodeAgentSecrets({ keys: s, seen: [{ sender: 'a@b', messageId: 'm', timestamp: T0 }] });
    expect(decodeAgentSecrets(bytes).seen).toHaveLength(1);
    const opk = s.oneTimePrekeys[0];
    if (opk === undefined) throw new Error('fixture');
    const bad = encodeAgentSecrets({ keys: { ...s, oneTimePrekeys: [{ ...opk, publicKey: s.signedPrekeys[0]?.publicKey ?? opk.publicKey }] }, seen: [] });
    expect((await appError(() => decodeAgentSecrets(bad))).code).toBe(ErrorCode.Corrupt);
    for (const n of [10, 100, bytes.length - 1]) {
      const err = await appError(() => decodeAgentSecrets(bytes.subarray(0, n)));
      expect([ErrorCode.BadInput, ErrorCode.Corrupt]).toContain(err.code);
    }
  });
});
