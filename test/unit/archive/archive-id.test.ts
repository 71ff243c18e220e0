// Archive ids (src/archive/user-db.ts newArchiveId): 128 random bits as 22 base64url characters,
// drawn from a pooled CSPRNG buffer; across pool refills none repeats.
import { describe, expect, it } from 'vitest';
import { newArchiveId } from '../../../src/archive/user-db.js';

describe('archive ids', () => {
  it('are 22 base64url characters, distinct across many pool refills', () => {
    const ids = Array.from({ length: 20_000 }, newArchiveId);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('spread over all 128 bits (no zeroed tail from the pool)', () => {
    const ones = new Array<number>(128).fill(0);
    const n = 4096;
    for (let i = 0; i < n; i++) {
      const b = Buffer.from(newArchiveId(), 'base64url');
      expect(b.length).toBe(16);
      for (let bit = 0; bit < 128; bit++) if ((b[bit >> 3] as number) & (0x80 >> (bit & 7))) ones[bit] = (ones[bit] ?? 0) + 1;
    }
    // Each bit is set in about half the ids (mean 2048, sd 32); a stuck bit would be 0 or 4096.
    for (const c of ones) expect(Math.abs(c - n / 2)).toBeLessThan(250);
  });
});
