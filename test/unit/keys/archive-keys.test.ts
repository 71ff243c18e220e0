// Archive keys over time (issue 7): rotation keeps old history readable and seals new copies to
// the new key, forgetting a key makes exactly its copies unreadable, the passphrase export carries
// every key to a second device and refuses a wrong passphrase, another account or a tampered file.
import { describe, expect, it } from 'vitest';
import {
  archiveCopyFromWire,
  archiveKeyList,
  createArchiveKey,
  decodeAgentSecrets,
  encodeAgentSecrets,
  envelopeToWire,
  ErrorCode,
  exportArchiveKeys,
  forgetArchiveKey,
  importArchiveKeys,
  KeyRing,
  MemoryTrustStore,
  open,
  pwhashMinimum,
  rotateArchiveKey,
  type AgentKeyState,
  type SealedEnvelope,
} from './imports.js';
import { agent, appError, sealFor, T0, text, untext } from './helpers.js';

const BOB = 'bob@example.org';
const alice = agent('alice@example.org', { archive: true });
const fast = { limits: pwhashMinimum() };

/** The history copy as the vault hands it out: only the recipient's (or sender's) archive block. */
function historyCopy(env: SealedEnvelope, owner: 'recipient' | 'sender'): SealedEnvelope {
  const w = envelopeToWire(env);
  return archiveCopyFromWire({ ...w, blocks: w.blocks.filter((b) => b.ak === owner) });
}

function readAs(state: AgentKeyState, env: SealedEnvelope, as: 'archive' | 'sent' = 'archive') {
  return open(env, { as, me: { jid: state.identity.jid }, prekeys: new KeyRing(state), trust: new MemoryTrustStore(), now: () => T0 });
}

describe('archive key rotation', () => {
  it('creates a first key, and refuses a second create', async () => {
    const bob = createArchiveKey(agent(BOB));
    expect(archiveKeyList(bob).map((k) => [k.id, k.current])).toEqual([[1, true]]);
    expect((await appError(() => createArchiveKey(bob))).code).toBe(ErrorCode.BadInput);
  });

  it('seals new copies to the new key while the old copies stay readable', async () => {
    const v1 = agent(BOB, { archive: true });
    const old = historyCopy(sealFor(alice, [v1], text('before')), 'recipient');
    const v2 = rotateArchiveKey(v1);
    expect(archiveKeyList(v2).map((k) => [k.id, k.current])).toEqual([[2, true], [1, false]]);
    const fresh = sealFor(alice, [v2], text('after'));
    expect(fresh.blocks.find((b) => b.target.kind === 'ak')?.prekeyId).toBe(2);
    expect(untext((await readAs(v2, old)).plaintext)).toBe('before');
    expect(untext((await readAs(v2, historyCopy(fresh, 'recipient'))).plaintext)).toBe('after');
  });

  it('forgets exactly one retired key: its copies become unreadable, the others are not', async () => {
    const v1 = agent(BOB, { archive: true });
    const c1 = historyCopy(sealFor(alice, [v1], text('one')), 'recipient');
    const v2 = rotateArchiveKey(v1);
    const c2 = historyCopy(sealFor(alice, [v2], text('two')), 'recipient');
    const v3 = rotateArchiveKey(v2);
    const secret1 = v3.retiredArchiveKeys?.find((k) => k.id === 1)?.secretKey;
    const forgot = forgetArchiveKey(v3, 1);
    expect(secret1?.every((b) => b === 0)).toBe(true); // wiped in memory
    expect(archiveKeyList(forgot).map((k) => k.id)).toEqual([3, 2]);
    const err = await appError(() => readAs(forgot, c1));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toMatch(/archive key 1 is unknown/);
    expect(untext((await readAs(forgot, c2)).plaintext)).toBe('two');
    expect((await appError(() => forgetArchiveKey(forgot, 3))).code).toBe(ErrorCode.BadInput); // current
    expect((await appError(() => forgetArchiveKey(forgot, 1))).code).toBe(ErrorCode.NotFound);
  });

  it('keeps retired keys through the key store encoding, and writes the old format without them', () => {
    const v1 = agent(BOB, { archive: true, archiveSuite: 'sp1' });
    const plain = encodeAgentSecrets({ keys: v1, seen: [] });
    expect(plain[4 + 'sealpost/v1/agent-state'.length]).toBe(1);
    const v2 = rotateArchiveKey(rotateArchiveKey(v1, 'sp1'), 'sp1');
    const back = decodeAgentSecrets(encodeAgentSecrets({ keys: v2, seen: [] })).keys;
    expect(archiveKeyList(back).map((k) => k.id)).toEqual([3, 2, 1]);
    expect(back.retiredArchiveKeys?.map((k) => Buffer.from(k.secretKey).toString('hex'))).toEqual(
      v2.retiredArchiveKeys?.map((k) => Buffer.from(k.secretKey).toString('hex')),
    );
    const none = forgetArchiveKey(forgetArchiveKey(v2, 1), 2);
    expect(none.retiredArchiveKeys).toBeUndefined();
    expect(encodeAgentSecrets({ keys: none, seen: [] })[4 + 'sealpost/v1/agent-state'.length]).toBe(1);
  });
});

describe('archive key export and import', () => {
  it('carries every key to a second device of the account, which then reads old and new history', async () => {
    const phone = rotateArchiveKey(agent(BOB, { archive: true }));
    const c1 = historyCopy(sealFor(alice, [{ ...phone, archiveKey: phone.retiredArchiveKeys?.[0] }], text('old')), 'recipient');
    const c2 = historyCopy(sealFor(alice, [phone], text('new')), 'recipient');
    const blob = exportArchiveKeys(phone, 'correct horse battery staple', fast);
    const laptop = agent(BOB);
    const r = importArchiveKeys(laptop, blob, 'correct horse battery staple');
    expect(r.added).toEqual([1, 2]);
    expect(r.currentChanged).toBe(true);
    expect(r.state.archiveKey?.id).toBe(2);
    expect(untext((await readAs(r.state, c1)).plaintext)).toBe('old');
    expect(untext((await readAs(r.state, c2)).plaintext)).toBe('new');
    // The laptop signs the imported key itself, so its bundle verifies under its own identity.
    expect(sealFor(alice, [r.state], text('x')).blocks.find((b) => b.target.kind === 'ak')?.prekeyId).toBe(2);
  });

  it('does not move a device back to an older current key, and adds what it lacked', () => {
    const phone = agent(BOB, { archive: true });
    const blob = exportArchiveKeys(phone, 'pw', fast);
    const laptop = importArchiveKeys(agent(BOB), blob, 'pw').state;
    const rotated = rotateArchiveKey(laptop);
    const again = importArchiveKeys(rotated, blob, 'pw');
    expect(again.added).toEqual([]);
    expect(again.currentChanged).toBe(false);
    expect(again.state.archiveKey?.id).toBe(2);
  });

  it('refuses a wrong passphrase, another account, a conflicting key id and a tampered export, changing nothing', async () => {
    const phone = agent(BOB, { archive: true });
    const blob = exportArchiveKeys(phone, 'secret', fast);
    const laptop = agent(BOB);
    expect((await appError(() => importArchiveKeys(laptop, blob, 'Secret'))).code).toBe(ErrorCode.WrongKey);
    expect((await appError(() => importArchiveKeys(agent('eve@example.org'), blob, 'secret'))).code).toBe(ErrorCode.Forbidden);
    expect((await appError(() => importArchiveKeys(agent(BOB, { archive: true }), blob, 'secret'))).code).toBe(ErrorCode.Corrupt);
    for (const at of [2, 10, blob.length - 1]) {
      const bad = blob.slice();
      bad[at] = (bad[at] ?? 0) ^ 1;
      const err = await appError(() => importArchiveKeys(laptop, bad, 'secret'));
      expect([ErrorCode.BadInput, ErrorCode.WrongKey]).toContain(err.code);
    }
    expect((await appError(() => importArchiveKeys(laptop, blob.subarray(0, 20), 'secret'))).code).toBe(ErrorCode.BadInput);
    expect(laptop.archiveKey).toBeUndefined();
    expect(() => exportArchiveKeys(laptop, 'x', fast)).toThrow(/no archive key/);
    expect(() => exportArchiveKeys(phone, '', fast)).toThrow(RangeError);
  });
});

describe('archive copies on the wire', () => {
  it('parse with exactly one archive block and refuse device blocks', async () => {
    const bob = agent(BOB, { archive: true });
    const w = envelopeToWire(sealFor(alice, [bob], text('hi'), { senderArchive: true }));
    const mine = archiveCopyFromWire({ ...w, blocks: w.blocks.filter((b) => b.ak === 'sender') });
    expect(untext((await readAs(alice, mine, 'sent')).plaintext)).toBe('hi');
    expect(() => archiveCopyFromWire({ ...w, blocks: w.blocks.filter((b) => b.device !== undefined) })).toThrow(/archive key/);
    expect(() => archiveCopyFromWire(w)).toThrow(/exactly one key block/);
    expect(() => archiveCopyFromWire({ ...w, blocks: [] })).toThrow(/exactly one key block/);
    expect(() => archiveCopyFromWire({ ...w, blocks: w.blocks.filter((b) => b.ak === 'recipient'), extra: 1 })).toThrow();
  });
});
