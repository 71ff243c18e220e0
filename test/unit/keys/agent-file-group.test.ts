// The agent key file as a group commit (issue 9): saves asked for while one is being written share
// the next write, so many received messages cost a few writes, not one each; every id recorded
// before a save resolved is in the file; a failed write fails the saves that shared it, and the
// next save writes again. The seen ids kept encoded between commits (SeenLog) write the same bytes
// as encoding them afresh, through any mix of adds, duplicates and prunes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeAgentState, SeenLog } from '../../../src/keys/state-codec.js';
import { agent, T0 } from './helpers.js';
import { AgentKeyFile, decodeAgentSecrets, encodeAgentSecrets, MemoryReplayStore, pwhashMinimum, type SeenEntry } from './imports.js';

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

  const step = fc.oneof(
    fc.record({ sender: fc.constantFrom('alice@example.org', 'carol@example.org'), messageId: fc.stringMatching(/^[a-z0-9]{1,12}$/), timestamp: fc.integer({ min: T0, max: T0 + 100 }) }),
    fc.integer({ min: T0, max: T0 + 100 }).map((before) => ({ prune: before })),
  );

  it('writes, through any adds, duplicates and prunes, exactly the ids a fresh encoding would, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        // close() wipes the key state: fresh keys per run.
        const f = await AgentKeyFile.create(path, cheap, agent('bob@example.org'));
        const reference = new MemoryReplayStore();
        for (const s of steps) {
          if ('prune' in s) await Promise.all([f.replay.prune(s.prune), reference.prune(s.prune)]);
          else await Promise.all([f.replay.add(s), reference.add(s)]);
        }
        await f.flushed();
        f.close();
        const again = await AgentKeyFile.open(path, cheap);
        const onDisk = (again as unknown as { seen: MemoryReplayStore }).seen.entries();
        again.close();
        expect(onDisk).toEqual(reference.entries());
      }),
      { numRuns: 30 },
    );
  });

  it('encodes the same bytes from a SeenLog as from the list of entries', () => {
    const keys = agent('bob@example.org');
    const entries: SeenEntry[] = Array.from({ length: 300 }, (_, i) => ({ sender: `s${i % 7}@example.org`, messageId: `m${i}`, timestamp: T0 + i }));
    const log = new SeenLog();
    for (const e of entries) log.add(e);
    const bytes = encodeAgentState(keys, log);
    expect(bytes).toEqual(encodeAgentSecrets({ keys, seen: entries }));
    expect(decodeAgentSecrets(bytes).seen).toEqual(entries);
  });
});
