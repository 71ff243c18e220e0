// seal/open round trips (design.md "Cryptographic construction", steps 1-5) as fast-check
// properties over payload sizes 0..192 KiB and 1..32 devices, plus the archive and sent copies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { account, agent, appError, ctx, party, sealFor, T0, text, untext } from './helpers.js';
import {
  DEFAULT_LIMITS,
  envelopeFromWire,
  envelopeToWire,
  ErrorCode,
  KeyRing,
  MemoryTrustStore,
  open,
  openWire,
  checkEnvelopeShape,
  type AgentKeyState,
} from './imports.js';

/** Deterministic filler so large payloads cost no generator time. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const alice = agent('alice@example.org', { archive: true });

async function openAll(devices: AgentKeyState[], wire: unknown, expected: Uint8Array): Promise<void> {
  for (const d of devices) {
    const p = party(d);
    const m = await openWire(wire, ctx(p));
    expect(Buffer.from(m.plaintext).equals(Buffer.from(expected))).toBe(true);
    expect(m.sender.jid).toBe('alice@example.org');
    expect(m.prekey.kind).toBe('opk');
    expect(p.ring.state.oneTimePrekeys.some((k) => k.id === m.prekey.id)).toBe(false);
  }
}

describe('seal and open', () => {
  it('round-trip for any payload size up to 192 KiB and 1..32 devices, through the wire form', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: DEFAULT_LIMITS.maxPayloadBytes }), fc.constant(DEFAULT_LIMITS.maxPayloadBytes)),
        fc.integer({ min: 1, max: 32 }),
        fc.integer(),
        async (size, n, seed) => {
          const bob = account('bob@example.org', n, { opks: 1, archive: true });
          const plain = bytes(size, seed);
          const env = sealFor(alice, bob, plain, { senderArchive: true });
          const wire = JSON.parse(JSON.stringify(envelopeToWire(env))) as unknown;
          expect(checkEnvelopeShape(wire, { expectFrom: 'alice@example.org' }).shape.payloadBytes).toBe(size + 40);
          await openAll(bob, wire, plain);
          const hist = await openWire(wire, { as: 'archive', me: { jid: 'bob@example.org' }, prekeys: new KeyRing(bob[0] as AgentKeyState), trust: new MemoryTrustStore(), now: () => T0 });
          expect(hist.plaintext.length).toBe(size);
          const sent = await openWire(wire, { as: 'sent', me: { jid: 'alice@example.org' }, prekeys: new KeyRing(alice), trust: new MemoryTrustStore(), now: () => T0 });
          expect(sent.recipient).toBe('bob@example.org');
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps every envelope field through toWire/fromWire', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2048 }), fc.integer({ min: 1, max: 8 }), (size, n) => {
        const env = sealFor(alice, account('bob@example.org', n, { archive: true }), bytes(size, n), { senderArchive: true });
        expect(envelopeFromWire(envelopeToWire(env))).toEqual(env);
      }),
      { numRuns: 30 },
    );
  });

  it('returns the signed header: sender, its identity key, timestamp, content type', async () => {
    const [bob] = account('bob@example.org', 1);
    if (bob === undefined) throw new Error('fixture');
    const env = sealFor(alice, [bob], text('hello'), { messageId: 'm-1' });
    const m = await open(env, ctx(party(bob)));
    expect(untext(m.plaintext)).toBe('hello');
    expect(m).toMatchObject({ messageId: 'm-1', recipient: 'bob@example.org', timestamp: T0, contentType: 'application/octet-stream', trust: 'new' });
    expect(m.sender.identityKey).toEqual(alice.identity.publicKey);
  });

  it('falls back to the signed prekey when a device has no one-time prekey left', async () => {
    const bob = agent('bob@example.org', { opks: 0 });
    const m = await open(sealFor(alice, [bob], text('x')), ctx(party(bob)));
    expect(m.prekey).toEqual({ kind: 'spk', id: bob.signedPrekeys[0]?.id });
  });

  it('erases the one-time prekey secret only after a successful open', async () => {
    const bob = agent('bob@example.org', { opks: 1 });
    const p = party(bob);
    const secret = bob.oneTimePrekeys[0]?.secretKey ?? new Uint8Array();
    const env = sealFor(alice, [bob], text('x'));
    // A failing open (untrusted sender) leaves the secret in place.
    const strict = ctx(p, { tofu: false });
    expect((await appError(() => open(env, strict))).code).toBe(ErrorCode.UntrustedKey);
    expect(p.ring.state.oneTimePrekeys).toHaveLength(1);
    expect(secret.some((b) => b !== 0)).toBe(true);
    await open(env, ctx(p));
    expect(p.ring.state.oneTimePrekeys).toHaveLength(0);
    expect(secret.every((b) => b === 0)).toBe(true);
  });

  it('refuses plaintext over the payload limit at seal time', () => {
    expect(() => sealFor(alice, [agent('bob@example.org')], new Uint8Array(DEFAULT_LIMITS.maxPayloadBytes + 1))).toThrow(RangeError);
  });
});
