// The outer envelope and the server's secret-free shape check (design.md, step 4 and invariants
// 4 and 5), plus the history copies: the recipient's archive block and the sender's own.
import { describe, expect, it } from 'vitest';
import { account, agent, appError, ctx, party, sealFor, T0, text, untext } from './helpers.js';
import {
  checkEnvelopeShape,
  checkEnvelopeWire,
  envelopeToWire,
  ErrorCode,
  KeyRing,
  MemoryTrustStore,
  openWire,
  resolveLimits,
  toBase64,
  type EnvelopeWire,
} from './imports.js';

const alice = agent('alice@example.org', { archive: true });
const bobs = account('bob@example.org', 2, { archive: true });
const env = sealFor(alice, bobs, text('hello'), { senderArchive: true, messageId: 'msg-1' });
const wire = (): EnvelopeWire => JSON.parse(JSON.stringify(envelopeToWire(env))) as EnvelopeWire;

describe('server shape check', () => {
  it('summarises ids, JIDs and sizes only', () => {
    const { shape } = checkEnvelopeShape(wire(), { expectFrom: 'alice@example.org', expectTo: 'bob@example.org' });
    expect(Object.keys(shape).sort()).toEqual(['blocks', 'device', 'from', 'keyBlockBytes', 'messageId', 'payloadBytes', 'suite', 'to', 'totalBytes']);
    expect(shape.blocks.map((b) => b.target)).toEqual([
      { kind: 'device', device: bobs[0]?.identity.device },
      { kind: 'device', device: bobs[1]?.identity.device },
      { kind: 'ak', owner: 'recipient' },
      { kind: 'ak', owner: 'sender' },
    ]);
    expect(shape.payloadBytes).toBe(5 + 40);
  });

  it('refuses an envelope whose sender is not the stamped sender', async () => {
    const err = await appError(() => checkEnvelopeShape(wire(), { expectFrom: 'mallory@example.org' }));
    expect(err.code).toBe(ErrorCode.Forbidden);
  });

  it.each<[string, (w: EnvelopeWire) => unknown]>([
    ['a device listed twice', (w) => ({ ...w, blocks: [w.blocks[0], w.blocks[0]] })],
    ['two archive blocks for the recipient', (w) => ({ ...w, blocks: [w.blocks[0], w.blocks[2], w.blocks[2]] })],
    ['only archive blocks', (w) => ({ ...w, blocks: [w.blocks[2]] })],
    ['key blocks of different sizes', (w) => ({ ...w, blocks: [w.blocks[0], { ...w.blocks[1], box: toBase64(new Uint8Array(400)) }] })],
    ['a block naming both a device and an archive', (w) => ({ ...w, blocks: [{ ...w.blocks[0], ak: 'recipient' }] })],
    ['an unknown archive owner', (w) => ({ ...w, blocks: [{ ...w.blocks[2], ak: 'server' }] })],
    ['a size that disagrees with the payload', (w) => ({ ...w, size: w.size + 1 })],
    ['an unexpected field', (w) => ({ ...w, body: 'plaintext' })],
    ['a full JID as recipient', (w) => ({ ...w, to: 'bob@example.org/phone' })],
    ['a box in base64url', (w) => ({ ...w, blocks: [{ ...w.blocks[0], box: `-${w.blocks[0]?.box.slice(1)}` }, w.blocks[1]] })],
    // The first device block ends in 'hw==': 'hx==' decodes alike but sets the bits padding leaves over.
    ['a box with non-canonical pad bits', (w) => ({ ...w, blocks: [{ ...w.blocks[0], box: `${w.blocks[0]?.box.slice(0, -3)}x==` }, w.blocks[1]] })],
    ['a payload with whitespace', (w) => ({ ...w, payload: ` ${w.payload.slice(1)}` })],
  ])('refuses %s, decoding or not, with the same error', async (_name, mutate) => {
    const decoded = await appError(() => checkEnvelopeShape(mutate(wire())));
    expect(decoded.code).toBe(ErrorCode.BadInput);
    const checked = await appError(() => checkEnvelopeWire(mutate(wire())));
    expect([checked.code, checked.message]).toEqual([decoded.code, decoded.message]);
  });

  it('checks without decoding to the same summary, and passes on the canonical wire form of the checked fields only', () => {
    const options = { expectFrom: 'alice@example.org', expectTo: 'bob@example.org' };
    const { envelope, shape } = checkEnvelopeShape(wire(), options);
    const checked = checkEnvelopeWire({ ...wire() }, options);
    expect(checked.shape).toEqual(shape);
    expect(checked.wire).toEqual(envelopeToWire(envelope));
    const extra = { ...wire(), blocks: wire().blocks.map((b) => ({ ...b, device: b.device })) };
    expect(Object.keys(checkEnvelopeWire(extra).wire.blocks[2] ?? {}).sort()).toEqual(['ak', 'box', 'prekey']);
  });

  it('applies configured limits', async () => {
    for (const check of [checkEnvelopeShape, checkEnvelopeWire]) {
      expect((await appError(() => check(wire(), { limits: { maxPayloadBytes: 4 } }))).code).toBe(ErrorCode.ResourceLimit);
      expect((await appError(() => check(wire(), { limits: { maxDevices: 1 } }))).code).toBe(ErrorCode.ResourceLimit);
    }
    expect(() => resolveLimits({ maxDevices: 0 })).toThrow(RangeError);
    expect(() => resolveLimits({ maxPayloadBytes: 1.5 })).toThrow(TypeError);
  });
});

describe('history copies', () => {
  const archiveCtx = (jid: string, ring: KeyRing, as: 'archive' | 'sent') => ({ as, me: { jid }, prekeys: ring, trust: new MemoryTrustStore(), now: () => T0 });

  it("open for the recipient's archive with the shared archive key, on any of its devices, many times", async () => {
    for (const b of bobs) {
      const c = archiveCtx('bob@example.org', new KeyRing(b), 'archive');
      expect(untext((await openWire(wire(), c)).plaintext)).toBe('hello');
      expect(untext((await openWire(wire(), c)).plaintext)).toBe('hello');
    }
  });

  it("open for the sender's sent history only as the sender", async () => {
    expect(untext((await openWire(wire(), archiveCtx('alice@example.org', new KeyRing(alice), 'sent'))).plaintext)).toBe('hello');
    const err = await appError(() => openWire(wire(), archiveCtx('bob@example.org', new KeyRing(bobs[0] ?? alice), 'sent')));
    expect(err.code).toBe(ErrorCode.Forbidden);
  });

  it('are refused by an account whose archive key is different', async () => {
    const carol = agent('bob@example.org', { archive: true });
    const err = await appError(() => openWire(wire(), archiveCtx('bob@example.org', new KeyRing(carol), 'archive')));
    expect(err.code).toBe(ErrorCode.BadSignature);
  });

  it('are absent when the recipient publishes no archive key', async () => {
    const dave = agent('dave@example.org', { archive: false });
    const e = sealFor(alice, [dave], text('transit only'));
    expect(e.blocks.map((b) => b.target.kind)).toEqual(['device']);
    const err = await appError(() => openWire(envelopeToWire(e), archiveCtx('dave@example.org', new KeyRing(dave), 'archive')));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(untext((await openWire(envelopeToWire(e), ctx(party(dave)))).plaintext)).toBe('transit only');
  });
});
