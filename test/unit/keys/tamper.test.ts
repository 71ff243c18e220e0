// Every single-bit flip is rejected: in a key block, in the signed header and key material inside
// it (re-sealed by an attacker, since crypto_box_seal is anonymous), in the payload, and in every
// clear field of the outer envelope (design.md, "Cryptographic construction", step 5).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boxSeal, boxSealOpen } from '../../../src/keys/sodium.js';
import { agent, appError, ctx, party, sealFor, text } from './helpers.js';
import { AppError, envelopeToWire, open, openWire, type AgentKeyState, type EnvelopeWire, type KeyBlock, type SealedEnvelope } from './imports.js';

const alice = agent('alice@example.org');

function flip(b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice();
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return out;
}

function withBlock(env: SealedEnvelope, box: Uint8Array): SealedEnvelope {
  const [first, ...rest] = env.blocks;
  if (first === undefined) throw new Error('fixture');
  const block: KeyBlock = { ...first, box };
  return { ...env, blocks: [block, ...rest] };
}

/** Bob with one one-time prekey, Alice's message to him, and an opener that must keep failing. */
function setup(plain = text('flip me')): { bob: AgentKeyState; env: SealedEnvelope; p: ReturnType<typeof party> } {
  const bob = agent('bob@example.org', { opks: 1 });
  return { bob, env: sealFor(alice, [bob], plain), p: party(bob) };
}

async function rejects(what: string, fn: () => Promise<unknown>): Promise<void> {
  const err = await appError(fn).catch((e: unknown) => e);
  expect(err instanceof AppError, `${what}: expected a refusal with an AppError, got ${String(err)}`).toBe(true);
}

/** The untouched envelope still opens afterwards, to its own plaintext: the flips were refused on their merits. */
async function stillOpens(env: SealedEnvelope, p: ReturnType<typeof party>, plain = text('flip me')): Promise<void> {
  expect(Buffer.from((await open(env, ctx(p))).plaintext).equals(Buffer.from(plain))).toBe(true);
}

describe('single-bit flips', () => {
  it('in any bit of a key block are all rejected (exhaustive)', async () => {
    const { env, p } = setup();
    const box = env.blocks[0]?.box ?? new Uint8Array();
    for (let bit = 0; bit < box.length * 8; bit++) await rejects(`key block bit ${bit}`, () => open(withBlock(env, flip(box, bit)), ctx(p)));
    await stillOpens(env, p);
  });

  it('in any bit of K ‖ sig ‖ header, re-sealed to the recipient by an attacker, are all rejected (exhaustive)', async () => {
    const { bob, env, p } = setup();
    const opk = bob.oneTimePrekeys[0];
    if (opk === undefined) throw new Error('fixture');
    const inner = boxSealOpen(env.blocks[0]?.box ?? new Uint8Array(), opk.publicKey, opk.secretKey);
    if (inner === undefined) throw new Error('fixture');
    // Sanity: re-sealing the untouched plaintext is accepted, so a rejection below is due to the flip.
    const resealed = withBlock(env, boxSeal(inner, opk.publicKey));
    for (let bit = 0; bit < inner.length * 8; bit++)
      await rejects(`key block plaintext bit ${bit}`, () => open(withBlock(env, boxSeal(flip(inner, bit), opk.publicKey)), ctx(p)));
    await stillOpens(resealed, p);
  });

  it('in any bit of a small payload are all rejected (exhaustive)', async () => {
    const plain = text('a short payload');
    const { env, p } = setup(plain);
    for (let bit = 0; bit < env.payload.length * 8; bit++)
      await rejects(`payload bit ${bit}`, () => open({ ...env, payload: flip(env.payload, bit) }, ctx(p)));
    await stillOpens(env, p, plain);
  });

  it('in payloads up to 192 KiB are rejected at random bit positions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 192 * 1024 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), async (size, at) => {
        const { env, p } = setup(new Uint8Array(size).fill(7));
        const bit = Math.floor(at * env.payload.length * 8);
        await rejects(`payload bit ${bit} of ${size}`, () => open({ ...env, payload: flip(env.payload, bit) }, ctx(p)));
        expect(p.ring.state.oneTimePrekeys).toHaveLength(1);
      }),
      { numRuns: 40 },
    );
  });

  it('in any clear field of the outer envelope are all rejected (exhaustive over each field)', async () => {
    const { env, p } = setup();
    const wire = envelopeToWire(env);
    const strings = ['suite', 'id', 'from', 'to'] as const;
    const numbers = ['device', 'size'] as const;
    const variants: [string, EnvelopeWire][] = [];
    for (const f of strings)
      for (let i = 0; i < wire[f].length; i++)
        for (let bit = 0; bit < 7; bit++) {
          const s = wire[f];
          variants.push([`${f}[${i}] bit ${bit}`, { ...wire, [f]: s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << bit)) + s.slice(i + 1) }]);
        }
    for (const f of numbers) for (let bit = 0; bit < 31; bit++) variants.push([`${f} bit ${bit}`, { ...wire, [f]: wire[f] ^ (1 << bit) }]);
    const block = wire.blocks[0];
    if (block === undefined || block.device === undefined) throw new Error('fixture');
    for (const f of ['device', 'prekey'] as const)
      for (let bit = 0; bit < 31; bit++) variants.push([`block ${f} bit ${bit}`, { ...wire, blocks: [{ ...block, [f]: (block[f] ?? 0) ^ (1 << bit) }] }]);
    for (const [what, v] of variants) await rejects(what, () => openWire(v, ctx(p)));
    expect(variants.length).toBeGreaterThan(400);
    await stillOpens(env, p);
  });
});
