import { describe, expect, it } from 'vitest';
import { keyedSerializer } from '../../../src/ingest/serial.js';
import { senderKey } from '../../../src/ingest/submissions.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('keyedSerializer', () => {
  it("runs one key's tasks in submission order even when earlier ones are slower", async () => {
    const serial = keyedSerializer();
    const order: number[] = [];
    await Promise.all([5, 0, 3, 0].map((delay, i) => serial('alice', async () => { await tick(delay); order.push(i); })));
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('runs different keys in parallel and keeps going after a task fails', async () => {
    const serial = keyedSerializer();
    const order: string[] = [];
    const slow = serial('alice', async () => { await tick(20); order.push('alice'); });
    const fast = serial('bob', () => { order.push('bob'); return Promise.resolve(); });
    const failing = serial('alice', () => Promise.reject(new Error('bad stanza')));
    const after = serial('alice', () => { order.push('alice-2'); return Promise.resolve(); });
    await Promise.all([slow, fast, after]);
    await expect(failing).rejects.toThrow('bad stanza');
    expect(order).toEqual(['bob', 'alice', 'alice-2']);
  });
});

describe('the per-sender key of a submission', () => {
  it('is the stamped bare JID through the one JID normaliser: resources and spellings of one sender share a queue', () => {
    expect(senderKey('Alice@Example.ORG/phone')).toBe('alice@example.org');
    expect(senderKey('alice@example.org/laptop')).toBe(senderKey('ALICE@example.org'));
    expect(senderKey('bob@example.org/alice@example.org')).toBe('bob@example.org');
    expect(senderKey(undefined)).toBe('');
    expect(senderKey('@@bad/jid')).toBe('');
  });
});
