// How the SDK cuts submission batches (issue 9): in order, at most 64 items and 192 KiB of encoded
// stanzas each, so a batch never exceeds the vault's item limit or the server's stanza limit even
// when items are large (many recipient devices); an item larger than the budget goes alone.
import { describe, expect, it } from 'vitest';
import { chunks, SUBMIT_BATCH_BYTES, SUBMIT_BATCH_ITEMS } from '../../../src/agent/submit-batch.js';
import type { OutboxEntry } from '../../../src/agent/outbox.js';

const entry = (i: number, bytes: number): OutboxEntry => ({ messageId: `m${i}`, recipient: 'bob@example.org', stanza: 'x'.repeat(bytes), createdAt: i });

describe('submission batches', () => {
  it('hold at most 64 small items, in order', () => {
    const entries = Array.from({ length: 150 }, (_, i) => entry(i, 100));
    const out = chunks(entries);
    expect(out.map((c) => c.length)).toEqual([SUBMIT_BATCH_ITEMS, SUBMIT_BATCH_ITEMS, 150 - 2 * SUBMIT_BATCH_ITEMS]);
    expect(out.flat().map((e) => e.messageId)).toEqual(entries.map((e) => e.messageId));
  });

  it('stay within the byte budget with large items; one over the budget goes alone', () => {
    const entries = [entry(0, 15_000), ...Array.from({ length: 30 }, (_, i) => entry(i + 1, 15_000)), entry(99, SUBMIT_BATCH_BYTES + 1), entry(100, 10)];
    const out = chunks(entries);
    for (const c of out) if (c.length > 1) expect(c.reduce((n, e) => n + e.stanza.length, 0)).toBeLessThanOrEqual(SUBMIT_BATCH_BYTES);
    expect(out.find((c) => c.some((e) => e.messageId === 'm99'))).toHaveLength(1);
    expect(out.flat().map((e) => e.messageId)).toEqual(entries.map((e) => e.messageId));
  });
});
