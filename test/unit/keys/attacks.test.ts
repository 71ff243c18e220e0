// One test per attack that must fail (issue 3, "Attacks that must fail"); each names the outcome.
import { describe, expect, it } from 'vitest';
import { boxSeal, boxSealOpen } from '../../../src/keys/sodium.js';
import { decodeHeader, encodeHeader, keyBlockPlaintext, splitKeyBlock } from '../../../src/keys/header.js';
import { account, agent, appError, ctx, DAY, HOUR, party, sealFor, T0, text, untext } from './helpers.js';
import {
  bundleToWire,
  checkEnvelopeShape,
  decodeBundle,
  displayFingerprint,
  envelopeToWire,
  ErrorCode,
  fingerprint,
  maintainSignedPrekeys,
  open,
  openWire,
  parseFingerprint,
  publicBundle,
  seal,
  targetsFromBundles,
  toBase64,
  type AgentKeyState,
  type SealedEnvelope,
} from './imports.js';

const alice = agent('alice@example.org');

/** Opens `env`'s first block with `s`'s prekey `id` and returns K ‖ sig ‖ header. */
function innerOf(env: SealedEnvelope, s: AgentKeyState, id: number): Uint8Array {
  const pk = s.oneTimePrekeys.find((p) => p.id === id) ?? s.signedPrekeys.find((p) => p.id === id);
  if (pk?.secretKey == null) throw new Error('fixture');
  const inner = boxSealOpen(env.blocks[0]?.box ?? new Uint8Array(), pk.publicKey, pk.secretKey);
  if (inner === undefined) throw new Error('fixture');
  return inner;
}

describe('attacks that must fail', () => {
  it("Bob re-sealing Alice's signed message to Carol is refused by Carol", async () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const carol = agent('carol@example.org', { opks: 0 });
    const env = sealFor(alice, [bob], text('for Bob only'));
    const inner = innerOf(env, bob, env.blocks[0]?.prekeyId ?? 0);
    const carolSpk = carol.signedPrekeys[0];
    if (carolSpk === undefined) throw new Error('fixture');
    const toCarol = (plain: Uint8Array, recipient: string): SealedEnvelope => ({
      ...env,
      recipient,
      blocks: [{ target: { kind: 'device', device: carol.identity.device }, prekeyId: carolSpk.id, box: boxSeal(plain, carolSpk.publicKey) }],
    });
    // 1. As is, readdressed to Carol: the signed header still names Bob.
    const e1 = await appError(() => open(toCarol(inner, 'carol@example.org'), ctx(party(carol))));
    expect(e1.code).toBe(ErrorCode.BadSignature);
    expect(e1.message).toContain('recipient');
    // 2. Bob rewrites the header's recipient to Carol: Alice's signature no longer verifies.
    const parts = splitKeyBlock(inner);
    const h = decodeHeader(parts.headerBytes);
    const forged = keyBlockPlaintext(parts.contentKey, parts.signature, encodeHeader({ ...h, recipient: 'carol@example.org' }));
    const e2 = await appError(() => open(toCarol(forged, 'carol@example.org'), ctx(party(carol))));
    expect(e2.code).toBe(ErrorCode.BadSignature);
    expect(e2.message).toContain('signature');
    // 3. Left addressed to Bob and delivered to Carol anyway: not for her.
    expect((await appError(() => open(toCarol(inner, 'bob@example.org'), ctx(party(carol))))).code).toBe(ErrorCode.Forbidden);
  });

  it("swapping one message's payload into another signed message is refused", async () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const m1 = sealFor(alice, [bob], text('pay 10'));
    const m2 = sealFor(alice, [bob], text('pay 10000'));
    expect((await appError(() => open({ ...m1, payload: m2.payload }, ctx(party(bob))))).code).toBe(ErrorCode.BadSignature);
  });

  it('a replayed message is refused as a replay, also for a signed-prekey message', async () => {
    for (const opks of [1, 0]) {
      const bob = agent('bob@example.org', { opks });
      const p = party(bob);
      const env = sealFor(alice, [bob], text('once'));
      expect(untext((await open(env, ctx(p))).plaintext)).toBe('once');
      const err = await appError(() => open(env, ctx(p)));
      expect(err.code, `with ${opks} one-time prekeys`).toBe(ErrorCode.Replay);
    }
  });

  it('a key block for another device does not open on this device', async () => {
    const [b1, b2] = account('bob@example.org', 2, { opks: 1 });
    if (b1 === undefined || b2 === undefined) throw new Error('fixture');
    const env = sealFor(alice, [b1], text('for device 1'));
    // Device 2 has no block of its own.
    expect((await appError(() => open(env, ctx(party(b2))))).code).toBe(ErrorCode.NotFound);
    // The block relabelled for device 2 and its prekey id does not open with device 2's key.
    const b2opk = b2.oneTimePrekeys[0];
    if (b2opk === undefined) throw new Error('fixture');
    const relabelled: SealedEnvelope = {
      ...env,
      blocks: env.blocks.map((b) => ({ ...b, target: { kind: 'device', device: b2.identity.device }, prekeyId: b2opk.id })),
    };
    const err = await appError(() => open(relabelled, ctx(party(b2))));
    expect(err.code).toBe(ErrorCode.BadSignature);
    expect(err.message).toContain('does not open');
  });

  it('a message to an expired signed prekey is refused by sender and recipient', async () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const spk = bob.signedPrekeys[0];
    if (spk === undefined) throw new Error('fixture');
    const late = spk.expires + HOUR;
    // The sender's side refuses the stale bundle.
    const bundle = decodeBundle(bundleToWire(publicBundle(bob)));
    expect((await appError(() => targetsFromBundles('bob@example.org', [bundle], late))).code).toBe(ErrorCode.Expired);
    expect((await appError(() => decodeBundle(bundleToWire(publicBundle(bob)), { now: late }))).code).toBe(ErrorCode.Expired);
    // A sender that ignores the expiry is refused by the recipient.
    const env = seal({ from: alice.identity, to: 'bob@example.org', devices: [{ device: bob.identity.device, prekeyId: spk.id, publicKey: spk.publicKey }], plaintext: text('late'), contentType: 'text/plain', now: () => late });
    const err = await appError(() => open(env, ctx(party(bob), { now: () => late })));
    expect(err.code).toBe(ErrorCode.Expired);
    // After the grace period the secret is erased and even a timely message is refused as expired.
    const timely = sealFor(alice, [bob], text('timely'));
    const after = spk.expires + 7 * DAY;
    const { state } = maintainSignedPrekeys(bob, () => after);
    expect((await appError(() => open(timely, ctx(party(state), { now: () => after })))).code).toBe(ErrorCode.Expired);
  });

  it('a bundle with one forged one-time prekey is refused whole', async () => {
    const bob = agent('bob@example.org', { opks: 10 });
    const w = bundleToWire(publicBundle(bob));
    const victim = w.opks[7];
    if (victim === undefined) throw new Error('fixture');
    victim.pub = toBase64(agent('mallory@example.org', { opks: 1 }).oneTimePrekeys[0]?.publicKey ?? new Uint8Array(32));
    const err = await appError(() => decodeBundle(w));
    expect(err.code).toBe(ErrorCode.BadSignature);
    expect(err.message).toContain(`one-time prekey ${victim.id}`);
  });

  it('a message signed by a new key for a pinned sender is refused until the user accepts the key', async () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const p = party(bob);
    await open(sealFor(alice, [bob], text('hi')), ctx(p));
    // Mallory claims Alice's jid and device with her own identity key.
    const mallory = agent('alice@example.org', { opks: 0 });
    const imposter: AgentKeyState = { ...mallory, identity: { ...mallory.identity, device: alice.identity.device } };
    const env = sealFor(imposter, [bob], text('trust me'));
    const err = await appError(() => open(env, ctx(p)));
    expect(err.code).toBe(ErrorCode.UntrustedKey);
    expect(err.message).toContain(displayFingerprint(imposter.identity.publicKey));
    // Still refused on a second try; nothing was accepted silently.
    expect((await appError(() => open(env, ctx(p)))).code).toBe(ErrorCode.UntrustedKey);
    const rec = await p.trust.get('alice@example.org', alice.identity.device);
    expect(rec?.identityKey).toEqual(alice.identity.publicKey);
    // Accepting the wrong fingerprint does nothing; the right one lets the message through.
    expect((await appError(() => p.trust.acceptChange('alice@example.org', alice.identity.device, fingerprint(alice.identity.publicKey), T0))).code).toBe(ErrorCode.UntrustedKey);
    await p.trust.acceptChange('alice@example.org', alice.identity.device, parseFingerprint(displayFingerprint(imposter.identity.publicKey)), T0);
    expect(untext((await open(env, ctx(p))).plaintext)).toBe('trust me');
  });

  it('an unknown suite is refused in an envelope, a typed envelope and a bundle', async () => {
    const bob = agent('bob@example.org');
    const env = sealFor(alice, [bob], text('x'));
    const w = { ...envelopeToWire(env), suite: 'sp2' };
    expect((await appError(() => checkEnvelopeShape(w))).code).toBe(ErrorCode.UnknownSuite);
    expect((await appError(() => openWire(w, ctx(party(bob))))).code).toBe(ErrorCode.UnknownSuite);
    expect((await appError(() => open({ ...env, suite: 'sp0' as 'sp1' }, ctx(party(bob))))).code).toBe(ErrorCode.UnknownSuite);
    expect((await appError(() => decodeBundle({ ...bundleToWire(publicBundle(bob)), suite: 'SP1' }))).code).toBe(ErrorCode.UnknownSuite);
  });

  it('a message outside the timestamp window is refused', async () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const future = sealFor(alice, [bob], text('x'), { now: T0 + HOUR });
    expect((await appError(() => open(future, ctx(party(bob))))).message).toContain('future');
    const old = sealFor(alice, [bob], text('x'), { now: T0 - 31 * DAY });
    const err = await appError(() => open(old, ctx(party(bob), { spkGraceMs: 100 * DAY })));
    expect(err.code).toBe(ErrorCode.Expired);
  });

  describe('truncated and oversized inputs are refused', () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const env = sealFor(alice, [bob], text('payload'));
    const wire = envelopeToWire(env);
    const block = wire.blocks[0];
    if (block === undefined) throw new Error('fixture');

    it.each<[string, unknown, string]>([
      ['a truncated payload', { ...wire, payload: wire.payload.slice(0, -4) }, ErrorCode.BadInput],
      ['a payload shorter than nonce and tag', { ...wire, size: 39, payload: toBase64(new Uint8Array(39)) }, ErrorCode.BadInput],
      ['a truncated key block (still within size bounds: it does not open)', { ...wire, blocks: [{ ...block, box: block.box.slice(0, -8) }] }, ErrorCode.BadSignature],
      ['a key block cut to its first 60 bytes', { ...wire, blocks: [{ ...block, box: toBase64(new Uint8Array(60)) }] }, ErrorCode.BadInput],
      ['an oversized key block', { ...wire, blocks: [{ ...block, box: toBase64(new Uint8Array(5000)) }] }, ErrorCode.BadInput],
      ['an oversized payload', { ...wire, size: 192 * 1024 + 41, payload: toBase64(new Uint8Array(192 * 1024 + 41)) }, ErrorCode.ResourceLimit],
      ['an oversized size field', { ...wire, size: 2 ** 40 }, ErrorCode.ResourceLimit],
      ['too many key blocks', { ...wire, blocks: Array.from({ length: 35 }, (_, i) => ({ ...block, device: i + 1 })) }, ErrorCode.ResourceLimit],
      ['33 device blocks', { ...wire, blocks: Array.from({ length: 33 }, (_, i) => ({ ...block, device: i + 1 })) }, ErrorCode.ResourceLimit],
      ['no key block', { ...wire, blocks: [] }, ErrorCode.BadInput],
      ['an oversized message id', { ...wire, id: 'x'.repeat(65) }, ErrorCode.BadInput],
      ['an oversized JID', { ...wire, to: `${'b'.repeat(1100)}@example.org` }, ErrorCode.BadInput],
      ['an empty object', {}, ErrorCode.UnknownSuite],
      ['null', null, ErrorCode.BadInput],
    ])('%s', async (_name, value, code) => {
      expect((await appError(() => openWire(value, ctx(party(bob))))).code).toBe(code);
    });

    it('a key block whose sealed plaintext is truncated', async () => {
      const spk = bob.signedPrekeys[0];
      if (spk === undefined) throw new Error('fixture');
      const inner = innerOf(env, bob, spk.id);
      for (const cut of [1, 8, 40, inner.length - 96, inner.length - 1]) {
        const box = boxSeal(inner.subarray(0, inner.length - cut), spk.publicKey);
        const err = await appError(() => open({ ...env, blocks: [{ ...env.blocks[0], target: { kind: 'device', device: bob.identity.device }, prekeyId: spk.id, box }] }, ctx(party(bob))));
        expect(err.code, `cut ${cut}`).toBe(ErrorCode.BadInput);
      }
    });

    it('a header with trailing bytes', async () => {
      const h = encodeHeader({ suite: 'sp1', messageId: 'm', sender: { jid: 'a@b', device: 1, identityKey: new Uint8Array(32) }, recipient: 'c@d', timestamp: 0, contentType: 't' });
      expect((await appError(() => decodeHeader(new Uint8Array([...h, 0])))).code).toBe(ErrorCode.BadInput);
      expect((await appError(() => decodeHeader(h.subarray(0, h.length - 1)))).code).toBe(ErrorCode.BadInput);
    });
  });
});
