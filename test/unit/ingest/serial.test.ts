import { describe, expect, it } from 'vitest';
import { keyedSerializer } from '../../../src/ingest/serial.js';

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
