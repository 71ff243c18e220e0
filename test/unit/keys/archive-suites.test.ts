// Archive keys of two suites (issue 18 part 1): new keys are X-Wing (sp1-xwing), X25519 (sp1)
// keys stay readable; both go through the key store, rotation, export/import and the wire
// checks; an attacker who flips a bit of an X-Wing copy or holds another key reads nothing.
import { describe, expect, it } from 'vitest';
import {
  archiveCopyFromWire,
  archiveKeyList,
  decodeAgentSecrets,
  encodeAgentSecrets,
  envelopeFromWire,
  envelopeToWire,
  ErrorCode,
  exportArchiveKeys,
  importArchiveKeys,
  KeyRing,
  MemoryTrustStore,
  open,
  pwhashMinimum,
  rotateArchiveKey,
  XWING_EXTRA_BYTES,
  XWING_SUITE,
  type AgentKeyState,
  type SealedEnvelope,
} from './imports.js';
import { agent, appError, sealFor, T0, text, untext } from './helpers.js';

const BOB = 'bob@example.org';
const alice = agent('alice@example.org', { archive: true });
const fast = { limits: pwhashMinimum() };
const VERSION_AT = 4 + 'sealpost/v1/agent-state'.length;

function historyCopy(env: SealedEnvelope, owner: 'recipient' | 'sender' = 'recipient'): SealedEnvelope {
  const w = envelopeToWire(env);
  return archiveCopyFromWire({ ...w, blocks: w.blocks.filter((b) => b.ak === owner) });
}

function readAs(state: AgentKeyState, env: SealedEnvelope, as: 'archive' | 'sent' = 'archive') {
  return open(env, { as, me: { jid: state.identity.jid }, prekeys: new KeyRing(state), trust: new MemoryTrustStore(), now: () => T0 });
}

const akBlock = (env: SealedEnvelope, owner = 'recipient') =>
  env.blocks.find((b) => b.target.kind === 'ak' && b.target.owner === owner) ?? expect.fail('no archive block');
const deviceBlock = (env: SealedEnvelope) => env.blocks.find((b) => b.target.kind === 'device') ?? expect.fail('no device block');

describe('archive key suites', () => {
  it('makes X-Wing keys by default; their copies are larger by exactly the X-Wing overhead', async () => {
    const bob = agent(BOB, { archive: true });
    expect(archiveKeyList(bob)[0]?.suite).toBe(XWING_SUITE);
    expect(bob.archiveKey?.publicKey.length).toBe(1216);
    expect(bob.archiveKey?.secretKey.length).toBe(32);
    const env = sealFor(alice, [bob], text('pq'), { senderArchive: true });
    expect(akBlock(env).box.length).toBe(deviceBlock(env).box.length + XWING_EXTRA_BYTES);
    expect(akBlock(env, 'sender').box.length).toBe(deviceBlock(env).box.length + XWING_EXTRA_BYTES);
    expect(untext((await readAs(bob, historyCopy(env))).plaintext)).toBe('pq');
    expect(untext((await readAs(alice, historyCopy(env, 'sender'), 'sent')).plaintext)).toBe('pq');
  });

  it('rotates an X25519 key to X-Wing: old copies still open, new ones are X-Wing', async () => {
    const v1 = agent(BOB, { archive: true, archiveSuite: 'sp1' });
    const old = sealFor(alice, [v1], text('classic'));
    expect(akBlock(old).box.length).toBe(deviceBlock(old).box.length);
    const v2 = rotateArchiveKey(v1);
    expect(archiveKeyList(v2).map((k) => [k.id, k.suite])).toEqual([[2, XWING_SUITE], [1, 'sp1']]);
    const fresh = sealFor(alice, [v2], text('hybrid'));
    expect(akBlock(fresh).prekeyId).toBe(2);
    const back = decodeAgentSecrets(encodeAgentSecrets({ keys: v2, seen: [] })).keys;
    expect(encodeAgentSecrets({ keys: v2, seen: [] })[VERSION_AT]).toBe(3);
    expect(untext((await readAs(back, historyCopy(old))).plaintext)).toBe('classic');
    expect(untext((await readAs(back, historyCopy(fresh))).plaintext)).toBe('hybrid');
  });

  it('refuses a key file whose X-Wing public key does not match its seed', async () => {
    const bob = agent(BOB, { archive: true });
    const bytes = encodeAgentSecrets({ keys: bob, seen: [] });
    const pub = bob.archiveKey?.publicKey ?? expect.fail('fixture');
    const at = Buffer.from(bytes).indexOf(Buffer.from(pub));
    bytes[at + 5] = (bytes[at + 5] ?? 0) ^ 1;
    const err = await appError(() => decodeAgentSecrets(bytes));
    expect(err.code).toBe(ErrorCode.Corrupt);
    expect(err.message).toMatch(/does not match its secret/);
  });

  it('exports and imports keys of both suites; the second device reads both histories', async () => {
    const phone = rotateArchiveKey(agent(BOB, { archive: true, archiveSuite: 'sp1' }));
    const c1 = sealFor(alice, [{ ...phone, archiveKey: phone.retiredArchiveKeys?.[0] }], text('one'));
    const c2 = sealFor(alice, [phone], text('two'));
    const blob = exportArchiveKeys(phone, 'pass phrase', fast);
    expect(blob[4]).toBe(2); // the format that names suites
    const r = importArchiveKeys(agent(BOB), blob, 'pass phrase');
    expect(r.added).toEqual([1, 2]);
    expect(archiveKeyList(r.state).map((k) => [k.id, k.suite])).toEqual([[2, XWING_SUITE], [1, 'sp1']]);
    expect(untext((await readAs(r.state, historyCopy(c1))).plaintext)).toBe('one');
    expect(untext((await readAs(r.state, historyCopy(c2))).plaintext)).toBe('two');
    // An X25519-only account still writes (and reads) the first format.
    const classic = exportArchiveKeys(agent(BOB, { archive: true, archiveSuite: 'sp1' }), 'pw', fast);
    expect(classic[4]).toBe(1);
    expect(importArchiveKeys(agent(BOB), classic, 'pw').state.archiveKey?.suite).toBeUndefined();
    expect((await appError(() => importArchiveKeys(agent(BOB), blob, 'wrong'))).code).toBe(ErrorCode.WrongKey);
  });

  it('refuses an import whose id is held here by a key of the other suite', async () => {
    const blob = exportArchiveKeys(agent(BOB, { archive: true }), 'pw', fast);
    const here = agent(BOB, { archive: true, archiveSuite: 'sp1' });
    expect((await appError(() => importArchiveKeys(here, blob, 'pw'))).code).toBe(ErrorCode.Corrupt);
  });
});

describe('X-Wing archive blocks on the wire and against an attacker', () => {
  const bob = agent(BOB, { archive: true });
  const env = sealFor(alice, [bob], text('secret'));
  const wire = () => JSON.parse(JSON.stringify(envelopeToWire(env))) as ReturnType<typeof envelopeToWire>;

  it('accepts the larger archive block, and refuses any other size for it (or a smaller one than the devices)', () => {
    expect(envelopeFromWire(wire()).blocks.length).toBe(2);
    const w1 = wire();
    const ak = w1.blocks.find((b) => b.ak !== undefined) ?? expect.fail('fixture');
    ak.box = Buffer.from(Buffer.from(ak.box, 'base64').subarray(1)).toString('base64');
    expect(() => envelopeFromWire(w1)).toThrow(/equal sizes/);
    const w2 = wire();
    const dev = w2.blocks.find((b) => b.device !== undefined) ?? expect.fail('fixture');
    const ak2 = w2.blocks.find((b) => b.ak !== undefined) ?? expect.fail('fixture');
    [dev.box, ak2.box] = [ak2.box, dev.box];
    expect(() => envelopeFromWire(w2)).toThrow(/equal sizes/);
  });

  it('refuses the copy after one bit flip anywhere in its block, and to another X-Wing key of the same id', async () => {
    const box = akBlock(env).box;
    for (const at of [0, 600, 1119, 1120, 1143, 1144, box.length - 17, box.length - 1]) {
      const flipped = box.slice();
      flipped[at] = (flipped[at] ?? 0) ^ 0x10;
      const bad: SealedEnvelope = { ...env, blocks: env.blocks.map((b) => (b.target.kind === 'ak' ? { ...b, box: flipped } : b)) };
      const err = await appError(() => readAs(bob, historyCopy(bad)));
      expect(err.code, `byte ${at}`).toBe(ErrorCode.BadSignature);
    }
    const mallory = agent(BOB, { archive: true }); // same account name and key id 1, another key
    expect((await appError(() => readAs(mallory, historyCopy(env)))).code).toBe(ErrorCode.BadSignature);
    const classic = agent(BOB, { archive: true, archiveSuite: 'sp1' }); // id 1 held as an X25519 key
    expect((await appError(() => readAs(classic, historyCopy(env)))).code).toBe(ErrorCode.BadSignature);
    expect(untext((await readAs(bob, historyCopy(env))).plaintext)).toBe('secret'); // the owner is unharmed
  });
});
