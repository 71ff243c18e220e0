// The agent key file as a group commit (issue 9): saves asked for while one is being written share
// the next write, so many received messages cost a few writes, not one each; every id recorded
// before a save resolved is in the file; a failed write fails the saves that shared it, and the
// next save writes again.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agent, T0 } from './helpers.js';
import { AgentKeyFile, pwhashMinimum } from './imports.js';

const cheap = { passphrase: 'correct horse battery staple', limits: pwhashMinimum() };
let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sealpost-keyfile-'));
  path = join(dir, 'agent.keys');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Counts the writes of a key file (its KeyStoreFile is private: reached for the test only). */
function countWrites(f: AgentKeyFile, fail?: () => boolean): { writes: number } {
  const file = (f as unknown as { file: { write(b: Uint8Array): Promise<void> } }).file;
  const write = file.write.bind(file);
  const counter = { writes: 0 };
  file.write = async (b) => {
    counter.writes++;
    if (fail?.()) throw new Error('disk full');
    await write(b);
  };
  return counter;
}

describe('agent key file group commit', () => {
  it('shares writes between concurrent saves, and every id recorded before a save resolved is on disk', async () => {
    const f = await AgentKeyFile.create(path, cheap, agent('bob@example.org'));
    const c = countWrites(f);
    const ids = Array.from({ length: 50 }, (_, i) => `m${i}`);
    await Promise.all(ids.map((messageId) => f.replay.add({ sender: 'alice@example.org', messageId, timestamp: T0 })));
    await f.flushed();
    expect(c.writes).toBeGreaterThan(0);
    expect(c.writes).toBeLessThanOrEqual(3);
    f.close();
    const again = await AgentKeyFile.open(path, cheap);
    for (const messageId of ids) expect(await again.replay.has('alice@example.org', messageId)).toBe(true);
    again.close();
  });

  it('fails the saves that shared a failed write; the next save writes again', async () => {
    const f = await AgentKeyFile.create(path, cheap, agent('bob@example.org'));
    let failing = true;
    const c = countWrites(f, () => failing);
    const results = await Promise.allSettled([f.save(), f.save(), f.save()]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    failing = false;
    await f.replay.add({ sender: 'alice@example.org', messageId: 'after', timestamp: T0 });
    expect(c.writes).toBeGreaterThanOrEqual(2);
    f.close();
    const again = await AgentKeyFile.open(path, cheap);
    expect(await again.replay.has('alice@example.org', 'after')).toBe(true);
    again.close();
  });
});
