// Trust stores (issue 3): pin on first use, verify by fingerprint, refuse a changed key until the
// user accepts it; the file-backed store persists atomically with mode 0600.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agent, appError, T0 } from './helpers.js';
import { checkTrust, ErrorCode, FileTrustStore, fingerprint, MemoryTrustStore, type TrustStore } from './imports.js';

const ik1 = agent('alice@example.org').identity.publicKey;
const ik2 = agent('alice@example.org').identity.publicKey;
const J = 'alice@example.org';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sealpost-trust-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const stores: [string, () => Promise<TrustStore>][] = [
  ['memory', () => Promise.resolve(new MemoryTrustStore())],
  ['file', () => FileTrustStore.open(join(dir, 'trust.json'))],
];

describe.each(stores)('%s trust store', (_name, make) => {
  it('pins on first use and accepts the same key again', async () => {
    const s = await make();
    expect(await checkTrust(s, J, 7, ik1, T0)).toBe('new');
    await s.pin(J, 7, ik1, T0);
    expect(await checkTrust(s, J, 7, ik1, T0)).toBe('tofu');
    expect((await s.pin(J, 7, ik1, T0 + 1)).firstSeen).toBe(T0);
  });

  it('refuses a changed key for a pinned (jid, device) and records it as pending only', async () => {
    const s = await make();
    await s.pin(J, 7, ik1, T0);
    expect((await appError(() => checkTrust(s, J, 7, ik2, T0))).code).toBe(ErrorCode.UntrustedKey);
    expect((await appError(() => s.pin(J, 7, ik2, T0))).code).toBe(ErrorCode.UntrustedKey);
    const rec = await s.get(J, 7);
    expect(rec?.identityKey).toEqual(ik1);
    expect(rec?.pending?.identityKey).toEqual(ik2);
    // Another device of the same account is a separate pin, and a new device of a known contact.
    expect(await checkTrust(s, J, 8, ik2, T0)).toBe('new-device');
  });

  it('refuses a new device of a known contact under the refuse policy until it is accepted with its fingerprint', async () => {
    const s = await make();
    await s.pin(J, 7, ik1, T0);
    expect((await appError(() => checkTrust(s, J, 8, ik2, T0, true, 'refuse'))).code).toBe(ErrorCode.UntrustedKey);
    expect(await s.get(J, 8)).toBeUndefined();
    expect((await appError(() => s.acceptDevice(J, 8, fingerprint(ik1), T0))).code).toBe(ErrorCode.UntrustedKey);
    expect((await s.acceptDevice(J, 8, fingerprint(ik2), T0)).identityKey).toEqual(ik2);
    expect(await checkTrust(s, J, 8, ik2, T0, true, 'refuse')).toBe('tofu');
    // A contact never seen is a first use, not a new device.
    expect(await checkTrust(s, 'carol@example.org', 1, ik1, T0, true, 'refuse')).toBe('new');
  });

  it('accepts a change only with the pending key fingerprint', async () => {
    const s = await make();
    await s.pin(J, 7, ik1, T0);
    expect((await appError(() => s.acceptChange(J, 7, fingerprint(ik2), T0))).code).toBe(ErrorCode.NotFound);
    await appError(() => checkTrust(s, J, 7, ik2, T0));
    expect((await appError(() => s.acceptChange(J, 7, fingerprint(ik1), T0))).code).toBe(ErrorCode.UntrustedKey);
    const rec = await s.acceptChange(J, 7, fingerprint(ik2), T0 + 5);
    expect(rec.identityKey).toEqual(ik2);
    expect(rec.pending).toBeUndefined();
    expect(await checkTrust(s, J, 7, ik2, T0)).toBe('tofu');
    expect((await appError(() => checkTrust(s, J, 7, ik1, T0))).code).toBe(ErrorCode.UntrustedKey);
  });

  it('marks a key verified only with its own fingerprint', async () => {
    const s = await make();
    expect((await appError(() => s.markVerified(J, 7, fingerprint(ik1), T0))).code).toBe(ErrorCode.NotFound);
    await s.pin(J, 7, ik1, T0);
    expect((await appError(() => s.markVerified(J, 7, fingerprint(ik2), T0))).code).toBe(ErrorCode.UntrustedKey);
    await s.markVerified(J, 7, fingerprint(ik1), T0);
    expect(await checkTrust(s, J, 7, ik1, T0)).toBe('verified');
  });

  it('with trust on first use off, refuses an unknown sender', async () => {
    const s = await make();
    expect((await appError(() => checkTrust(s, J, 7, ik1, T0, false))).code).toBe(ErrorCode.UntrustedKey);
  });
});

describe('file trust store', () => {
  it('persists pins, verification and pending keys across reopen, mode 0600, no temp files left', async () => {
    const path = join(dir, 'trust.json');
    const s = await FileTrustStore.open(path);
    await s.pin(J, 7, ik1, T0);
    await s.markVerified(J, 7, fingerprint(ik1), T0);
    await appError(() => checkTrust(s, J, 7, ik2, T0));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['trust.json']);
    const again = await FileTrustStore.open(path);
    const rec = await again.get(J, 7);
    expect(rec?.level).toBe('verified');
    expect(rec?.pending?.identityKey).toEqual(ik2);
    expect((await appError(() => checkTrust(again, J, 7, ik2, T0))).code).toBe(ErrorCode.UntrustedKey);
  });

  it('keeps a refused new device across a restart: still refused, still acceptable by its fingerprint only', async () => {
    const path = join(dir, 'trust.json');
    const s = await FileTrustStore.open(path);
    await s.pin(J, 7, ik1, T0);
    expect((await appError(() => checkTrust(s, J, 8, ik2, T0, true, 'refuse'))).code).toBe(ErrorCode.UntrustedKey);
    const raw = JSON.parse(await readFile(path, 'utf8')) as { refused?: { jid: string; device: number }[] };
    expect(raw.refused?.map((r) => [r.jid, r.device])).toEqual([[J, 8]]);
    const again = await FileTrustStore.open(path); // the agent restarted; the device has not spoken since
    expect(await again.get(J, 8)).toBeUndefined();
    expect((await appError(() => checkTrust(again, J, 8, ik2, T0, true, 'refuse'))).code).toBe(ErrorCode.UntrustedKey);
    expect((await appError(() => again.acceptDevice(J, 8, fingerprint(ik1), T0))).code).toBe(ErrorCode.UntrustedKey);
    expect((await again.acceptDevice(J, 8, fingerprint(ik2), T0 + 1)).identityKey).toEqual(ik2);
    const third = await FileTrustStore.open(path); // accepted: pinned, and no longer waiting
    expect(await checkTrust(third, J, 8, ik2, T0, true, 'refuse')).toBe('tofu');
    expect((JSON.parse(await readFile(path, 'utf8')) as { refused?: unknown[] }).refused).toBeUndefined();
  });

  it('bounds the refused devices it remembers, forgetting the oldest', async () => {
    const path = join(dir, 'trust.json');
    const s = await FileTrustStore.open(path);
    await s.pin(J, 1, ik1, T0);
    for (let d = 2; d < 2 + 1030; d++) await s.noteNewDevice(J, d, ik2, T0 + d);
    const refused = (JSON.parse(await readFile(path, 'utf8')) as { refused: { device: number }[] }).refused;
    expect(refused).toHaveLength(1024);
    expect(refused[0]?.device).toBe(8);
    await expect(FileTrustStore.open(path)).resolves.toBeDefined();
  });

  it('refuses a malformed file instead of resetting the pins', async () => {
    const path = join(dir, 'trust.json');
    const s = await FileTrustStore.open(path);
    await s.pin(J, 7, ik1, T0);
    const text = await readFile(path, 'utf8');
    const refused = (r: unknown): string => JSON.stringify({ ...(JSON.parse(text) as object), refused: r });
    const bads = ['{', text.replace('"tofu"', '"maybe"'), text.replace(/"ik": "[^"]+"/, '"ik": "AAAA"'), '[]', refused({}), refused([{ jid: J, device: 0, ik: 'AAAA', seenAt: T0 }])];
    for (const bad of bads) {
      await writeFile(path, bad);
      expect((await appError(() => FileTrustStore.open(path))).code).toBe(ErrorCode.Corrupt);
    }
  });

  it('serialises concurrent changes so the file holds all of them', async () => {
    const path = join(dir, 'trust.json');
    const s = await FileTrustStore.open(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.pin(J, i + 1, ik1, T0)));
    expect(await (await FileTrustStore.open(path)).list()).toHaveLength(20);
  });
});
