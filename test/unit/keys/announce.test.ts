// The signed device announcement in presence (issue 6): it verifies only under the identity key
// the directory holds, only for the stamped JID and resource it was made for, only while fresh,
// and any change to a signed field or the signature is refused with the reason.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  announcementBytes,
  ANNOUNCE_LABEL,
  createDeviceIdentity,
  fingerprint,
  fromBase64,
  initSodium,
  signAnnouncement,
  toBase64,
  verifyAnnouncement,
  type AnnouncementWire,
  type VerifyAnnouncementInput,
} from './imports.js';

await initSodium();

const JID = 'bob@example.org';
const NOW = Date.UTC(2025, 0, 1, 12);
const bob = createDeviceIdentity(JID, 4242);
const keyOf = (device: number): Uint8Array | undefined => (device === bob.device ? bob.publicKey : undefined);

function input(wire: unknown, over: Partial<VerifyAnnouncementInput> = {}): VerifyAnnouncementInput {
  return { jid: JID, resource: 'phone', wire, identityKeyOf: keyOf, now: NOW, ...over };
}

describe('device announcement', () => {
  it('verifies for the stamped JID and resource under the published identity key', () => {
    const wire = signAnnouncement(bob, 'phone', NOW - 1000);
    expect(verifyAnnouncement(input(wire))).toEqual({ ok: true, device: 4242, timestamp: NOW - 1000 });
    expect(wire.fp).toBe(toBase64(fingerprint(bob.publicKey)));
  });

  it('starts the signed bytes with its own label', () => {
    const bytes = announcementBytes({ jid: JID, device: 1, fingerprint: fingerprint(bob.publicKey), timestamp: NOW, resource: 'r' });
    expect(Buffer.from(bytes.subarray(4, 4 + ANNOUNCE_LABEL.length)).toString()).toBe(ANNOUNCE_LABEL);
  });

  it('refuses another resource, another JID and a device with no published key', () => {
    const wire = signAnnouncement(bob, 'phone', NOW);
    expect(verifyAnnouncement(input(wire, { resource: 'laptop' }))).toMatchObject({ ok: false, reason: 'signature' });
    expect(verifyAnnouncement(input(wire, { jid: 'mallory@example.org' }))).toMatchObject({ ok: false, reason: 'signature' });
    const other = createDeviceIdentity(JID, 7);
    expect(verifyAnnouncement(input(signAnnouncement(other, 'phone', NOW)))).toMatchObject({ ok: false, reason: 'unknown-device' });
  });

  it('refuses a key the directory does not hold, even with a valid signature of its own', () => {
    const stranger = createDeviceIdentity(JID, bob.device);
    expect(verifyAnnouncement(input(signAnnouncement(stranger, 'phone', NOW)))).toMatchObject({ ok: false, reason: 'fingerprint' });
    // The stranger claiming Bob's fingerprint: the signature gives it away.
    const claimed = { ...signAnnouncement(stranger, 'phone', NOW), fp: toBase64(fingerprint(bob.publicKey)) };
    expect(verifyAnnouncement(input(claimed))).toMatchObject({ ok: false, reason: 'signature' });
  });

  it('refuses stale and future timestamps outside the skew', () => {
    expect(verifyAnnouncement(input(signAnnouncement(bob, 'phone', NOW - 11 * 60_000)))).toMatchObject({ ok: false, reason: 'stale' });
    expect(verifyAnnouncement(input(signAnnouncement(bob, 'phone', NOW + 11 * 60_000)))).toMatchObject({ ok: false, reason: 'stale' });
    expect(verifyAnnouncement(input(signAnnouncement(bob, 'phone', NOW - 60_000), { maxSkewMs: 30_000 }))).toMatchObject({ reason: 'stale' });
  });

  it('refuses malformed wire forms without throwing', () => {
    const good = signAnnouncement(bob, 'phone', NOW);
    const bad: unknown[] = [
      undefined,
      'x',
      { ...good, extra: 1 },
      { ...good, device: 0 },
      { ...good, device: '4242' },
      { ...good, fp: 'AAAA' },
      { ...good, sig: toBase64(new Uint8Array(63)) },
      { ...good, ts: -1 },
      { ...good, ts: 1.5 },
    ];
    for (const wire of bad) expect(verifyAnnouncement(input(wire))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyAnnouncement(input(good, { resource: '' }))).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('any flipped bit of the signature or fingerprint is refused', () => {
    const good = signAnnouncement(bob, 'phone', NOW);
    fc.assert(
      fc.property(fc.constantFrom<'sig' | 'fp'>('sig', 'fp'), fc.nat(), fc.integer({ min: 0, max: 7 }), (field, at, bit) => {
        const bytes = fromBase64(field, good[field], 1, 64);
        bytes[at % bytes.length]! ^= 1 << bit;
        const wire: AnnouncementWire = { ...good, [field]: toBase64(bytes) };
        return !verifyAnnouncement(input(wire)).ok;
      }),
      { numRuns: 200 },
    );
  });
});
