// Signed prekey rotation with a grace period (design.md: rotated every 7 days by default, the old
// secret kept one more period, then erased), as pure functions with an injected clock.
import { describe, expect, it } from 'vitest';
import { agent, appError, ctx, DAY, party, sealFor, T0, text, untext } from './helpers.js';
import { addOneTimePrekeys, currentSignedPrekey, ErrorCode, maintainSignedPrekeys, open, publicBundle, verifyBundle } from './imports.js';

const alice = agent('alice@example.org');

describe('signed prekey rotation', () => {
  it('does nothing before the current signed prekey expires', () => {
    const bob = agent('bob@example.org');
    const r = maintainSignedPrekeys(bob, () => T0 + 7 * DAY - 1);
    expect(r.rotated).toBe(false);
    expect(r.erased).toEqual([]);
    expect(r.state.signedPrekeys).toHaveLength(1);
    expect(currentSignedPrekey(r.state)).toBe(currentSignedPrekey(bob));
  });

  it('rotates at expiry, keeps the old secret through the grace period, then erases it', async () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const old = currentSignedPrekey(bob);
    const oldSecret = old.secretKey ?? new Uint8Array();
    const inFlight = sealFor(alice, [bob], text('sealed before rotation'), { now: T0 + 6 * DAY });

    const r1 = maintainSignedPrekeys(bob, () => T0 + 7 * DAY);
    expect(r1.rotated).toBe(true);
    const fresh = currentSignedPrekey(r1.state);
    expect(fresh.id).not.toBe(old.id);
    expect(fresh.expires).toBe(T0 + 14 * DAY);
    expect(verifyBundle(publicBundle(r1.state)).signedPrekey.id).toBe(fresh.id);
    expect(bob.signedPrekeys).toHaveLength(1); // the input state is not modified

    // During the grace period the message sealed to the old key still opens.
    const m = await open(inFlight, ctx(party(r1.state), { now: () => T0 + 10 * DAY }));
    expect(untext(m.plaintext)).toBe('sealed before rotation');

    // One period after its expiry the old secret is wiped and dropped.
    const r2 = maintainSignedPrekeys(r1.state, () => T0 + 14 * DAY);
    expect(r2.erased).toEqual([old.id]);
    expect(oldSecret.every((b) => b === 0)).toBe(true);
    expect(r2.state.signedPrekeys.find((s) => s.id === old.id)?.secretKey).toBeNull();
    const err = await appError(() => open(inFlight, ctx(party(r2.state), { now: () => T0 + 14 * DAY })));
    expect(err.code).toBe(ErrorCode.Expired);
  });

  it('accepts custom periods and keeps a bounded number of tombstones', () => {
    let s = agent('bob@example.org');
    const policy = { periodMs: DAY, graceMs: DAY, tombstones: 2 };
    for (let d = 1; d <= 10; d++) s = maintainSignedPrekeys(s, () => T0 + 7 * DAY + d * DAY, policy).state;
    const erased = s.signedPrekeys.filter((k) => k.secretKey === null);
    expect(erased).toHaveLength(2);
    expect(s.signedPrekeys.filter((k) => k.secretKey !== null)).toHaveLength(2); // current + one in grace
  });

  it('allocates prekey ids from one id space for signed and one-time prekeys', () => {
    let s = agent('bob@example.org', { opks: 3 });
    s = maintainSignedPrekeys(s, () => T0 + 8 * DAY).state;
    s = addOneTimePrekeys(s, 2).state;
    const ids = [...s.signedPrekeys.map((k) => k.id), ...s.oneTimePrekeys.map((k) => k.id)];
    expect(new Set(ids).size).toBe(ids.length);
  });
});
