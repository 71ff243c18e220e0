// Bundles (issue 3): wire round trip, strict shape checks, whole-bundle signature verification,
// counts, expiry, suite; and the directory's countersignature.
import { describe, expect, it } from 'vitest';
import { agent, appError, T0, DAY } from './helpers.js';
import {
  bundleFromWire,
  bundleToWire,
  countersign,
  createServerKey,
  decodeBundle,
  ErrorCode,
  publicBundle,
  toBase64,
  verifyBundle,
  verifyCountersign,
  XWING_SUITE,
  type BundleWire,
} from './imports.js';

const alice = agent('alice@example.org', { opks: 5, archive: true });
const wireOf = (): BundleWire => JSON.parse(JSON.stringify(bundleToWire(publicBundle(alice)))) as BundleWire;

describe('bundle', () => {
  it('survives the JSON wire form and verifies', () => {
    const b = decodeBundle(wireOf(), { now: T0, expectJid: 'alice@example.org' });
    expect(b.device).toBe(alice.identity.device);
    expect(b.oneTimePrekeys.map((p) => p.id)).toEqual(alice.oneTimePrekeys.map((p) => p.id));
    expect(b.archiveKey?.publicKey).toEqual(alice.archiveKey?.publicKey);
    expect(bundleToWire(b)).toEqual(wireOf());
  });

  it('is refused whole when one of its one-time prekeys carries a forged key, naming it', async () => {
    const w = wireOf();
    const forged = w.opks[3];
    if (forged === undefined) throw new Error('fixture');
    forged.pub = toBase64(agent('mallory@example.org').oneTimePrekeys[0]?.publicKey ?? new Uint8Array(32));
    const err = await appError(() => decodeBundle(w));
    expect(err.code).toBe(ErrorCode.BadSignature);
    expect(err.message).toContain(`one-time prekey ${forged.id}`);
    expect(err.message).toContain('whole bundle is refused');
  });

  it('is refused when a signature is moved from one prekey to another', async () => {
    const w = wireOf();
    const [a, b] = w.opks;
    if (a === undefined || b === undefined) throw new Error('fixture');
    [a.sig, b.sig] = [b.sig, a.sig];
    expect((await appError(() => decodeBundle(w))).code).toBe(ErrorCode.BadSignature);
  });

  it('is refused when the signed prekey expiry is extended', async () => {
    const w = wireOf();
    w.spk.expires += DAY;
    const err = await appError(() => decodeBundle(w));
    expect(err.code).toBe(ErrorCode.BadSignature);
    expect(err.message).toContain('signed prekey');
  });

  it('is refused when the archive key is forged, in either suite', async () => {
    const w = wireOf();
    if (w.ak === undefined) throw new Error('fixture');
    expect(w.ak.suite).toBe(XWING_SUITE); // the default for new keys
    w.ak.pub = toBase64(agent('mallory@example.org', { archive: true }).archiveKey?.publicKey ?? new Uint8Array(0));
    const err = await appError(() => decodeBundle(w));
    expect(err.code).toBe(ErrorCode.BadSignature);
    expect(err.message).toContain('archive key');
    const classic = JSON.parse(JSON.stringify(bundleToWire(publicBundle(agent('carol@example.org', { archive: true, archiveSuite: 'sp1' }))))) as BundleWire;
    if (classic.ak === undefined) throw new Error('fixture');
    expect(classic.ak.suite).toBeUndefined();
    expect(decodeBundle(classic).archiveKey?.publicKey.length).toBe(32);
    classic.ak.pub = classic.opks[0]?.pub ?? '';
    expect((await appError(() => decodeBundle(classic))).message).toContain('archive key');
  });

  it("refuses an archive key whose suite is unknown, stripped or changed (the suite is signed with the key)", async () => {
    const unknown = wireOf();
    if (unknown.ak === undefined) throw new Error('fixture');
    unknown.ak.suite = 'sp9-kyber';
    const e1 = await appError(() => decodeBundle(unknown));
    expect(e1.code).toBe(ErrorCode.UnknownSuite);
    expect(e1.message).toContain('sp9-kyber');
    const stripped = wireOf();
    delete stripped.ak?.suite; // an X-Wing key offered as an X25519 one: wrong size for sp1
    expect((await appError(() => decodeBundle(stripped))).message).toMatch(/bundle\.ak\.pub/);
    // Past the wire sizes: the same key and signature under another suite does not verify.
    const b = bundleFromWire(wireOf());
    if (b.archiveKey === undefined) throw new Error('fixture');
    const relabelled = { ...b, archiveKey: { id: b.archiveKey.id, publicKey: b.archiveKey.publicKey, signature: b.archiveKey.signature } };
    const e2 = await appError(() => verifyBundle(relabelled));
    expect(e2.code).toBe(ErrorCode.BadSignature);
    expect(e2.message).toContain('archive key');
  });

  it('is refused when its jid or device is changed (both are signed)', async () => {
    const w1 = wireOf();
    w1.jid = 'mallory@example.org';
    expect((await appError(() => decodeBundle(w1))).code).toBe(ErrorCode.BadSignature);
    const w2 = wireOf();
    w2.device = (w2.device % 1000) + 1;
    expect((await appError(() => decodeBundle(w2))).code).toBe(ErrorCode.BadSignature);
  });

  it('is refused when it belongs to someone else than the expected owner', async () => {
    expect((await appError(() => decodeBundle(wireOf(), { expectJid: 'bob@example.org' }))).code).toBe(ErrorCode.Forbidden);
  });

  it('is refused with more one-time prekeys than the limit', async () => {
    const big = agent('big@example.org', { opks: 101 });
    const w = bundleToWire(publicBundle(big, 101));
    const err = await appError(() => bundleFromWire(w));
    expect(err.code).toBe(ErrorCode.ResourceLimit);
    expect(bundleFromWire(w, { maxOpks: 101 }).oneTimePrekeys).toHaveLength(101);
    expect((await appError(() => decodeBundle(wireOf(), { maxOpks: 4 }))).code).toBe(ErrorCode.ResourceLimit);
  });

  it('is refused when a prekey id appears twice', async () => {
    const w = wireOf();
    const [a, b] = w.opks;
    if (a === undefined || b === undefined) throw new Error('fixture');
    b.id = a.id;
    expect((await appError(() => decodeBundle(w))).message).toContain('used twice');
  });

  it('is refused with an expired signed prekey when the time is given', async () => {
    const err = await appError(() => decodeBundle(wireOf(), { now: alice.signedPrekeys[0]?.expires ?? 0 }));
    expect(err.code).toBe(ErrorCode.Expired);
  });

  it('is refused with an unknown suite, before anything else is read', async () => {
    const w = { ...wireOf(), suite: 'sp2', ik: 'garbage' };
    const err = await appError(() => decodeBundle(w));
    expect(err.code).toBe(ErrorCode.UnknownSuite);
    expect(err.message).toContain('"sp2"');
  });

  it.each<[string, (w: BundleWire) => unknown]>([
    ['a truncated identity key', (w) => ({ ...w, ik: w.ik.slice(0, -4) })],
    ['an oversized signature', (w) => ({ ...w, spk: { ...w.spk, sig: toBase64(new Uint8Array(65)) } })],
    ['a missing signed prekey', ({ spk: _spk, ...rest }) => rest],
    ['a negative expiry', (w) => ({ ...w, spk: { ...w.spk, expires: -1 } })],
    ['a string device id', (w) => ({ ...w, device: String(w.device) })],
    ['an extra field', (w) => ({ ...w, note: 'hi' })],
    ['opks not an array', (w) => ({ ...w, opks: {} })],
    ['a resource in the jid', (w) => ({ ...w, jid: 'alice@example.org/phone' })],
    ['not an object', () => 'bundle'],
  ])('is refused as bad input with %s', async (_name, mutate) => {
    expect((await appError(() => decodeBundle(mutate(wireOf())))).code).toBe(ErrorCode.BadInput);
  });

  it('is accepted with one claimed one-time prekey or none', () => {
    const b = publicBundle(alice);
    expect(verifyBundle({ ...b, oneTimePrekeys: b.oneTimePrekeys.slice(2, 3) }).oneTimePrekeys).toHaveLength(1);
    expect(verifyBundle({ ...b, oneTimePrekeys: [] }).oneTimePrekeys).toHaveLength(0);
  });
});

describe('countersignature', () => {
  const server = createServerKey();
  const c = { jid: 'alice@example.org', device: alice.identity.device, identityKey: alice.identity.publicKey, firstSeen: T0 };

  it('verifies for exactly what the server vouched for', () => {
    const sig = countersign(c, server.secretKey);
    expect(verifyCountersign(c, sig, server.publicKey)).toBe(true);
    expect(verifyCountersign({ ...c, firstSeen: T0 + 1 }, sig, server.publicKey)).toBe(false);
    expect(verifyCountersign({ ...c, identityKey: agent('x@y.z').identity.publicKey }, sig, server.publicKey)).toBe(false);
    expect(verifyCountersign(c, sig, createServerKey().publicKey)).toBe(false);
  });
});
