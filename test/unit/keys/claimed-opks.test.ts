// Claimed-but-unused one-time prekeys (issue 14, attack 2): a publish marks them with when it
// found them claimed, the key file keeps that mark, and their secrets go once it is older than
// the caller's cut-off; unclaimed ones stay.
import { describe, expect, it } from 'vitest';
import { addOneTimePrekeys, decodeAgentSecrets, encodeAgentSecrets, expireClaimedOpks, markClaimedOpks } from '../../../src/keys/index.js';
import { agent, DAY, T0 } from './helpers.js';

describe('claimed one-time prekeys', () => {
  it('marks the ones older than a fresh batch as claimed, keeps the mark through the key file, erases them after the cut-off', () => {
    const before = agent('bob@example.org', { opks: 5 });
    const firstNew = before.nextPrekeyId;
    const fresh = addOneTimePrekeys(before, 3).state;
    const marked = markClaimedOpks(fresh, firstNew, T0);
    expect(marked.oneTimePrekeys.map((p) => p.claimedBy)).toEqual([T0, T0, T0, T0, T0, undefined, undefined, undefined]);
    expect(markClaimedOpks(marked, firstNew, T0 + DAY)).toBe(marked); // a mark is not moved

    const decoded = decodeAgentSecrets(encodeAgentSecrets({ keys: marked, seen: [] })).keys;
    expect(decoded.oneTimePrekeys.map((p) => p.claimedBy)).toEqual(marked.oneTimePrekeys.map((p) => p.claimedBy));

    expect(expireClaimedOpks(decoded, T0)).toBe(decoded); // not older than the cut-off yet
    const secret = decoded.oneTimePrekeys[0]?.secretKey;
    const expired = expireClaimedOpks(decoded, T0 + 1);
    expect(expired.oneTimePrekeys.map((p) => p.id)).toEqual(fresh.oneTimePrekeys.slice(5).map((p) => p.id));
    expect(secret?.every((b) => b === 0)).toBe(true); // wiped
  });
});
