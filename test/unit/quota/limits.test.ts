// The one quota check (src/quota/limits.ts) both halves run: bounds by count and by bytes, the
// sender's share of each, history copies apart from pending ones, and an item's cost read from
// its wire form without decoding it.
import { describe, expect, it } from 'vitest';
import { NO_USAGE } from '../../../src/archive/index.js';
import { costOf, QuotaCheck, type QuotaLimits } from '../../../src/quota/index.js';

const LIMITS: QuotaLimits = { pendingMaxCount: 100, pendingMaxBytes: 10_000, historyMaxCount: 100, historyMaxBytes: 10_000, senderSharePercent: 25 };
const b64 = (n: number): string => Buffer.alloc(n, 7).toString('base64');

describe('quota check', () => {
  it("reads an item's cost from base64 lengths, padded or not", () => {
    for (const n of [0, 1, 2, 3, 100, 101, 102]) {
      const cost = costOf({ payload: b64(n), blocks: [{ device: 1, prekey: 1, box: b64(n + 1) }, { ak: 'recipient', prekey: 2, box: b64(n + 2).replace(/=+$/, '') }, { ak: 'sender', prekey: 3, box: b64(50) }] });
      expect(cost).toEqual({ pending: true, pendingBytes: 2 * n + 1, kept: true, keptBytes: 2 * n + 2 });
    }
    expect(costOf({ payload: b64(10), blocks: [{ ak: 'recipient', prekey: 2, box: b64(5) }] }).pending).toBe(false);
  });

  it("bounds a sender by bytes too: its share is a quarter of the recipient's bytes", () => {
    const q = new QuotaCheck(LIMITS, 'bob@example.org', NO_USAGE, NO_USAGE);
    const big = { pending: true, pendingBytes: 1200, kept: false, keptBytes: 0 };
    expect(q.admit(big)).toBeUndefined();
    expect(q.admit(big)).toBeUndefined();
    expect(q.admit(big)?.message).toMatch(/share of its pending quota \(25 messages, 2500 bytes\)/);
  });

  it('keeps the recipient total above every share, and history apart from pending', () => {
    const full = { ...NO_USAGE, pendingMessages: 100, pendingBytes: 500 };
    const q = new QuotaCheck(LIMITS, 'bob@example.org', full, NO_USAGE);
    expect(q.admit({ pending: true, pendingBytes: 1, kept: false, keptBytes: 0 })?.message).toMatch(/too many undelivered messages/);
    // A copy that is only a history copy (no device) is not pending: the history bounds alone apply.
    expect(q.admit({ pending: false, pendingBytes: 0, kept: true, keptBytes: 2000 })).toBeUndefined();
    expect(q.admit({ pending: false, pendingBytes: 0, kept: true, keptBytes: 600 })?.message).toMatch(/history copies .* share of its history quota \(25 copies, 2500 bytes\)/);
  });
});
