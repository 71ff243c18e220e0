// Shared by the file tests (issue 17): a random file with a plaintext canary written into it, its
// SHA-256, the blobs the vault holds on disk, and the canary scan of everything a file touched.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import type { TestAgent } from './service-fixture.js';

export interface TestFile {
  path: string;
  size: number;
  sha256: string;
  canary: string;
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `mib` MiB of random bytes with a canary at the start, the middle and the end; written in 1 MiB pieces. */
export async function randomFile(dir: string, mib: number): Promise<TestFile> {
  const canary = `CANARY-${randomBytes(16).toString('hex')}`;
  const path = join(dir, `input-${randomBytes(4).toString('hex')}.bin`);
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) {
    const piece = randomBytes(1024 * 1024);
    if (i === 0 || i === Math.floor(mib / 2) || i === mib - 1) piece.write(canary, 1000, 'latin1');
    hash.update(piece);
    if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { path, size: mib * 1024 * 1024, sha256: hash.digest('base64'), canary };
}

export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('base64');
}

/** The blob files (`*.blob`) under a service data dir (every shard's archive), with their sizes. */
export function blobsOn(dataDir: string): { path: string; size: number }[] {
  const shards = join(dataDir, 'shards');
  if (!existsSync(shards)) return [];
  return readdirSync(shards)
    .map((k) => join(shards, k, 'archive', 'users'))
    .filter((users) => existsSync(users))
    .flatMap((users) =>
      readdirSync(users)
        .filter((d) => d.endsWith('.files'))
        .flatMap((d) => readdirSync(join(users, d)).filter((f) => f.endsWith('.blob')).map((f) => join(users, d, f))),
    )
    .map((path) => ({ path, size: statSync(path).size }));
}

/** An honest 1 MiB file from `from` to `to` (offline): `to` comes online, saves it, the hash is equal. */
export async function honestFileArrives(from: TestAgent, to: TestAgent): Promise<void> {
  const dir = tempDir('sealpost-honest-');
  const file = await randomFile(dir, 1);
  await from.agent.sendFile(to.account.jid, file.path);
  const got: string[] = [];
  const b = await to.reopen({
    onMessage: async (m) => {
      if (m.file()?.sha256 === file.sha256) got.push(sha256Of((await m.saveTo(join(dir, 'out.bin'))).path));
    },
  });
  await expect.poll(() => got, { timeout: 30_000 }).toEqual([file.sha256]);
  await b.stop();
}
