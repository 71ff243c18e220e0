// The outer envelope and the server's secret-free shape check (design.md, step 4 and invariants
// 4 and 5), plus the history copies: the recipient's archive block and the sender's own.
import { describe, expect, it } from 'vitest';
import { account, agent, appError, ctx, party, sealFor, T0, text, untext } from './helpers.js';
import {
  checkEnvelopeShape,
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
  ])('refuses %s', async (_name, mutate) => {
    expect((await appError(() => checkEnvelopeShape(mutate(wire())))).code).toBe(ErrorCode.BadInput);
  });

  it('applies configured limits', async () => {
    expect((await appError(() => checkEnvelopeShape(wire(), { limits: { maxPayloadBytes: 4 } }))).code).toBe(ErrorCode.ResourceLimit);
    expect((await appError(() => checkEnvelopeShape(wire(), { limits: { maxDevices: 1 } }))).code).toBe(ErrorCode.ResourceLimit);
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
