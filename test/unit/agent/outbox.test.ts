// The sender's outbox with batches (issue 9): a batch is one file written once; its entries are
// listed until each is settled, and the file goes with the last one; after a restart a batch file
// still on disk is taken over (its entries listed and settled one by one), next to single entries.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, type OutboxEntry } from '../../../src/agent/outbox.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealpost-outbox-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entry = (messageId: string, createdAt: number): OutboxEntry => ({ messageId, recipient: 'bob@example.org', stanza: `<message id='${messageId}'/>`, createdAt });

describe('Outbox batches', () => {
  it('keeps a batch in one file until its last entry is settled', async () => {
    const box = new Outbox(dir);
    await box.putMany([entry('a', 1), entry('b', 1), entry('c', 1)]);
    expect(readdirSync(dir)).toEqual(['a.batch']);
    expect(box.list().map((e) => e.messageId)).toEqual(['a', 'b', 'c']);
    box.remove('b');
    expect(box.list().map((e) => e.messageId)).toEqual(['a', 'c']);
    expect(box.size).toBe(2);
    expect(box.has('b')).toBe(false);
    box.remove('a');
    box.remove('c');
    expect(readdirSync(dir)).toEqual([]);
    expect(box.size).toBe(0);
  });

  it('takes over batch and single files left by an earlier run, oldest first', async () => {
    const before = new Outbox(dir);
    await before.putMany([entry('x', 2), entry('y', 2)]);
    await before.put(entry('solo', 1));
    before.remove('x'); // settled in memory only: after a restart it is sent again (stored once by the vault)
    const after = new Outbox(join(dir));
    expect(after.list().map((e) => e.messageId)).toEqual(['solo', 'x', 'y']);
    after.remove('x');
    after.remove('solo');
    expect(after.list().map((e) => e.messageId)).toEqual(['y']);
    after.remove('y');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses unsafe message ids before writing anything', async () => {
    const box = new Outbox(dir);
    await expect(box.putMany([entry('ok', 1), entry('../evil', 1)])).rejects.toThrow(RangeError);
    expect(readdirSync(dir)).toEqual([]);
  });
});
