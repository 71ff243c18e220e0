// Encrypted history over XEP-0313 against real Prosody, Redis and archive files (issue 7): 10,000
// archived items page forwards and backwards each exactly once and in order, every filter is exact
// and counts are right; nobody reaches another user's archive; history stays readable with the
// archive key after the one-time prekeys are gone, moves to a second device, and becomes unreadable
// once the user forgets that key.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { HistoryEntry, ReceivedMessage } from '../../src/agent/index.js';
import type { IncomingItem } from '../../src/archive/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import { AgentKeyFile, pwhashMinimum, XWING_EXTRA_BYTES, XWING_SUITE } from '../../src/keys/index.js';
import { formatStamp, NS_ARCHIVE, parseFin, parseMamResult, type Fin } from '../../src/protocol/archive.js';
import { NS } from '../../src/protocol/namespaces.js';
import { StanzaError, xml, type Element, type XmppConnection } from '../../src/xmpp/index.js';
import { connectFreshAccount, goOnline } from './helpers.js';
import { startAgent, startTestService, type TestService } from './service-fixture.js';

const T0 = Date.UTC(2025, 0, 1);

interface Answer {
  ids: string[];
  stamps: number[];
  fin: Fin;
}

/** A raw XEP-0313 client: one query, its result messages (checked to come from the vault), the fin. */
async function mam(
  conn: XmppConnection,
  ts: TestService,
  o: { fields?: Record<string, string | string[]>; rsm?: Record<string, string>; flip?: boolean; jid?: string } = {},
): Promise<Answer> {
  const queryId = randomBytes(6).toString('hex');
  const got: { id: string; stamp: number }[] = [];
  const off = conn.on('stanza', (s) => {
    const r = parseMamResult(s);
    if (r?.queryId !== queryId) return;
    expect(String(s.attrs.from)).toBe(ts.service.conn.jid);
    got.push({ id: r.archiveId, stamp: r.timestamp });
  });
  const form = xml(
    'x',
    { xmlns: NS.dataForms, type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS.mam)),
    ...Object.entries(o.fields ?? {}).map(([k, v]) => xml('field', { var: k }, ...[v].flat().map((x) => xml('value', {}, x)))),
  );
  const set = xml('set', { xmlns: NS.rsm }, ...Object.entries(o.rsm ?? {}).map(([k, v]) => xml(k, {}, v)));
  const query = xml('query', { xmlns: NS.mam, queryid: queryId, ...(o.jid === undefined ? {} : { jid: o.jid }) }, form, set);
  if (o.flip === true) query.append(xml('flip-page'));
  try {
    const iq = await conn.sendReceive(xml('iq', { type: 'set', to: ts.service.conn.jid }, query), 30_000);
    return { ids: got.map((g) => g.id), stamps: got.map((g) => g.stamp), fin: parseFin(iq.getChild('fin', NS.mam)) };
  } finally {
    off();
  }
}

function opaque(sender: string, i: number): IncomingItem {
  return {
    sender,
    senderDevice: 7,
    messageId: `m${i}`,
    suite: 'sp1',
    payload: new Uint8Array(randomBytes(64)),
    deviceBlocks: [],
    archiveBlock: { akId: 1, block: new Uint8Array(randomBytes(120)) },
    receivedAt: T0 + i * 1000,
  };
}

/** 10,000 items in Alice's archive: 9,500 received (every third from Carol, else Bob), 500 sent to Dave. */
function seed(ts: TestService, owner: string, domain: string): { ids: string[]; peers: string[] } {
  const [bob, carol, dave] = ['bob', 'carol', 'dave'].map((u) => `${u}-hist@${domain}`) as [string, string, string];
  const ids: string[] = [];
  const peers: string[] = [];
  for (let b = 0; b < 10; b++) {
    const batch: IncomingItem[] = [];
    for (let k = 0; k < 950; k++) {
      const i = b * 1000 + k;
      batch.push(opaque(i % 3 === 0 ? carol : bob, i));
    }
    ts.service.archive.storeIncomingMany(owner, batch).forEach((r, k) => {
      ids.push(r.archiveId);
      peers.push(batch[k]!.sender);
    });
    for (let k = 950; k < 1000; k++) {
      const i = b * 1000 + k;
      const r = ts.service.archive.storeOutgoing(owner, {
        recipient: dave,
        senderDevice: 7,
        messageId: `m${i}`,
        suite: 'sp1',
        payload: new Uint8Array(randomBytes(64)),
        archiveBlock: { akId: 1, block: new Uint8Array(randomBytes(120)) },
        receivedAt: T0 + i * 1000,
      });
      ids.push(r.archiveId);
      peers.push(dave);
    }
  }
  return { ids, peers };
}

async function refusedWith(p: Promise<unknown>): Promise<StanzaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StanzaError);
  return err as StanzaError;
}

describe('history over MAM', () => {
  it('pages 10,000 items forwards and backwards each exactly once in order; with/start/end/ids/after-id/before-id exact; counts right', async () => {
    const ts = await startTestService();
    const alice = await connectFreshAccount('alice');
    await goOnline(alice.conn);
    const t0 = Date.now();
    const { ids, peers } = seed(ts, alice.account.jid, ts.config.xmppDomain);
    const seedMs = Date.now() - t0;
    expect(new Set(ids).size).toBe(10_000);

    const t1 = Date.now();
    const forward: string[] = [];
    let after: string | undefined;
    for (let page = 0; ; page++) {
      const a = await mam(alice.conn, ts, { rsm: { max: '100', ...(after === undefined ? {} : { after }) } });
      expect(a.ids).toEqual(ids.slice(page * 100, page * 100 + 100));
      expect(a.stamps).toEqual(a.ids.map((_, k) => T0 + (page * 100 + k) * 1000));
      expect(a.fin).toMatchObject({ count: 10_000, firstIndex: page * 100, first: a.ids[0], last: a.ids.at(-1), complete: page === 99 });
      forward.push(...a.ids);
      if (a.fin.complete) break;
      after = a.fin.last;
    }
    const forwardMs = Date.now() - t1;
    expect(forward).toEqual(ids);

    const t2 = Date.now();
    const backward: string[][] = [];
    let before = '';
    for (let page = 0; ; page++) {
      const a = await mam(alice.conn, ts, { rsm: { max: '100', before } });
      expect(a.ids).toEqual(ids.slice(9_900 - page * 100, 10_000 - page * 100)); // each page in archive order
      expect(a.fin).toMatchObject({ count: 10_000, firstIndex: 9_900 - page * 100, complete: page === 99 });
      backward.unshift(a.ids);
      if (a.fin.complete) break;
      before = a.fin.first ?? '';
    }
    const backwardMs = Date.now() - t2;
    expect(backward.flat()).toEqual(ids);

    // Filters: each exact, with its count.
    const all = async (o: Parameters<typeof mam>[2]): Promise<{ ids: string[]; count: number | undefined }> => {
      const out: string[] = [];
      let cursor: string | undefined;
      let count: number | undefined;
      for (;;) {
        const a = await mam(alice.conn, ts, { ...o, rsm: { max: '1000', ...(cursor === undefined ? {} : { after: cursor }) } });
        out.push(...a.ids);
        count = a.fin.count;
        if (a.fin.complete) return { ids: out, count };
        cursor = a.fin.last;
      }
    };
    const idx = (pred: (i: number) => boolean): string[] => ids.filter((_, i) => pred(i));
    const carol = `carol-hist@${ts.config.xmppDomain}`;
    const dave = `dave-hist@${ts.config.xmppDomain}`;
    const byCarol = await all({ fields: { with: carol } });
    expect(byCarol.ids).toEqual(idx((i) => peers[i] === carol));
    expect(byCarol.count).toBe(byCarol.ids.length);
    const toDave = await all({ fields: { with: dave } });
    expect(toDave).toEqual({ ids: idx((i) => i % 1000 >= 950), count: 500 });
    const window = await all({ fields: { start: formatStamp(T0 + 2_000_000), end: formatStamp(T0 + 2_999_000) } });
    expect(window).toEqual({ ids: ids.slice(2_000, 3_000), count: 1_000 }); // both bounds inclusive
    const carolWindow = await all({ fields: { with: carol, start: formatStamp(T0 + 2_000_001), end: formatStamp(T0 + 2_999_999) } });
    expect(carolWindow.ids).toEqual(idx((i) => i > 2_000 && i <= 2_999 && peers[i] === carol));
    const picked = [ids[7]!, ids[9_999]!, ids[4_242]!, ids[0]!];
    const byIds = await all({ fields: { ids: [...picked, 'AAAAAAAAAAAAAAAAAAAAAA'] } });
    expect(byIds).toEqual({ ids: [ids[0], ids[7], ids[4_242], ids[9_999]], count: 4 });
    const between = await all({ fields: { 'after-id': ids[100]!, 'before-id': ids[200]! } });
    expect(between).toEqual({ ids: ids.slice(101, 200), count: 99 });

    // Count only (max 0), RSM index, flip-page.
    const counted = await mam(alice.conn, ts, { rsm: { max: '0' }, fields: { with: dave } });
    expect(counted.ids).toEqual([]);
    expect(counted.fin.count).toBe(500);
    const tail = await mam(alice.conn, ts, { rsm: { max: '100', index: '9990' } });
    expect(tail.ids).toEqual(ids.slice(9_990));
    expect(tail.fin).toMatchObject({ firstIndex: 9_990, complete: true });
    const flipped = await mam(alice.conn, ts, { rsm: { max: '10', before: '' }, flip: true });
    expect(flipped.ids).toEqual(ids.slice(9_990).reverse());
    expect(flipped.fin).toMatchObject({ first: ids[9_999], last: ids[9_990] });

    // A bad form: bad-request with the reason; an unknown cursor: item-not-found.
    const badField = await refusedWith(mam(alice.conn, ts, { fields: { colour: 'red' } }));
    expect(badField).toMatchObject({ condition: 'bad-request' });
    expect(badField.text).toMatch(/field "colour" is not supported/);
    expect((await refusedWith(mam(alice.conn, ts, { fields: { start: 'last tuesday' } }))).text).toMatch(/start: expected an XEP-0082 DateTime/);
    expect((await refusedWith(mam(alice.conn, ts, { rsm: { after: 'BBBBBBBBBBBBBBBBBBBBBB' } }))).condition).toBe('item-not-found');
    process.stderr.write(`[history] seeded 10,000 in ${seedMs} ms; 100 pages forwards in ${forwardMs} ms, backwards in ${backwardMs} ms\n`);
  });

  it("refuses another user's query for an archive, and a query for someone else's archive; Alice's archive stays as it was", async () => {
    const ts = await startTestService();
    const alice = await connectFreshAccount('alice');
    const mallory = await connectFreshAccount('mallory');
    await goOnline(alice.conn);
    await goOnline(mallory.conn);
    const ids = ts.service.archive
      .storeIncomingMany(alice.account.jid, Array.from({ length: 20 }, (_, i) => opaque(`bob@${ts.config.xmppDomain}`, i)))
      .map((r) => r.archiveId);

    const named = await refusedWith(mam(mallory.conn, ts, { jid: alice.account.jid }));
    expect(named).toMatchObject({ condition: 'forbidden' });
    // Mallory's own archive is empty: Alice's ids are neither found nor usable as cursors.
    const mine = await mam(mallory.conn, ts, { fields: { ids: ids.slice(0, 5) } });
    expect(mine.ids).toEqual([]);
    expect(mine.fin.count).toBe(0);
    expect(await mam(mallory.conn, ts, { fields: { with: alice.account.jid } })).toMatchObject({ ids: [], fin: { count: 0 } });
    expect((await refusedWith(mam(mallory.conn, ts, { fields: { 'after-id': ids[3]! } }))).condition).toBe('item-not-found');
    expect((await refusedWith(mam(mallory.conn, ts, { rsm: { before: ids[3]! } }))).condition).toBe('item-not-found');
    const to = ts.service.conn.jid;
    const op = (type: 'get' | 'set', el: Element) => mallory.conn.sendReceive(xml('iq', { type, to }, el));
    expect((await refusedWith(op('set', xml('delete', { xmlns: NS_ARCHIVE, jid: alice.account.jid, all: 'true' })))).condition).toBe('forbidden');
    expect((await refusedWith(op('set', xml('retention', { xmlns: NS_ARCHIVE, jid: alice.account.jid, expire: '1' })))).condition).toBe('forbidden');
    expect((await refusedWith(op('get', xml('retention', { xmlns: NS_ARCHIVE, jid: alice.account.jid })))).condition).toBe('forbidden');
    const del = await op('set', xml('delete', { xmlns: NS_ARCHIVE }, ...ids.map((id) => xml('item', { id }))));
    expect(del.getChild('deleted', NS_ARCHIVE)?.attrs.count).toBe('0');

    // The owner still sees all 20, with no retention set.
    expect((await mam(alice.conn, ts)).ids).toEqual(ids);
    expect(ts.service.archive.getRetention(alice.account.jid)).toBeNull();
    // ...and may name her own archive.
    expect((await mam(alice.conn, ts, { jid: alice.account.jid })).fin.count).toBe(20);
    // The vault says what it answers (XEP-0030): MAM v2 with the extended fields, and the archive operations.
    const info = await alice.conn.sendReceive(xml('iq', { type: 'get', to }, xml('query', { xmlns: NS.discoInfo })));
    const features = info.getChild('query', NS.discoInfo)?.getChildren('feature').map((f): unknown => f.attrs.var) ?? [];
    expect(features).toEqual(expect.arrayContaining([NS.mam, `${NS.mam}#extended`, NS.rsm, NS_ARCHIVE]));
  });
});

describe('history in the SDK', () => {
  it('reads history with the (X-Wing) archive key after the one-time prekeys are gone, with an X25519 key after rotation, on a second device too, and not after the key is forgotten', async () => {
    const ts = await startTestService();
    const seen: ReceivedMessage[] = [];
    // Alice claims anew for every message, so each copy for Bob is sealed to a one-time prekey.
    const alice = await startAgent(ts, 'alice', { bundleCacheMs: 0 });
    const bob = await startAgent(ts, 'bob', { onMessage: (m) => void seen.push(m) });
    const prekeysUsed: number[] = [];
    const send = ts.service.conn.send.bind(ts.service.conn);
    (ts.service.conn as { send: typeof send }).send = (stanza: Element) => {
      // A delivery carries one <sealed/>, or (batched) one per <item/>.
      const items = stanza.is('message') ? [stanza, ...stanza.getChildren('item', NS.sealed)] : [];
      for (const sealed of items.flatMap((i) => i.getChildren('sealed', NS.sealed)))
        for (const k of sealed.getChildren('key')) if (k.attrs.device !== undefined) prekeysUsed.push(Number(k.attrs.prekey));
      return send(stanza);
    };
    const sent: string[] = [];
    for (const text of ['h0', 'h1', 'h2']) sent.push((await alice.agent.send(bob.account.jid, text)).messageId);
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBe(3);
    await expect.poll(() => ts.service.archive.pendingCounts(bob.account.jid).messages, { timeout: 10_000 }).toBe(0);
    await bob.agent.stop();

    // The one-time prekeys those deliveries were sealed to are erased from Bob's key file.
    const file = await AgentKeyFile.open(join(bob.dir, 'keys.sealpost'), bob.options.secret);
    const left = new Set(file.state.oneTimePrekeys.map((p) => p.id));
    const spk = new Set(file.state.signedPrekeys.map((s) => s.id));
    // Bob's archive key is post-quantum (the default).
    expect(file.state.archiveKey?.suite).toBe(XWING_SUITE);
    file.close();
    expect(new Set(prekeysUsed).size).toBe(3);
    for (const id of prekeysUsed) expect(left.has(id) || spk.has(id)).toBe(false);

    const back = await bob.reopen();
    const read = async (agent: typeof back, options = {}): Promise<HistoryEntry[]> => {
      const out: HistoryEntry[] = [];
      for await (const e of agent.history(options)) out.push(e);
      return out;
    };
    const h1 = await read(back);
    expect(h1.map((e) => (e.ok ? [e.direction, e.with, e.text(), e.archiveKeyId, e.from] : e.error.message))).toEqual(
      ['h0', 'h1', 'h2'].map((t) => ['in', alice.account.jid, t, 1, alice.account.jid]),
    );
    expect(h1.map((e) => e.ok && e.messageId)).toEqual(sent);
    const aliceSent = await read(alice.agent);
    expect(aliceSent.map((e) => e.ok && [e.direction, e.with, e.text()])).toEqual(['h0', 'h1', 'h2'].map((t) => ['out', bob.account.jid, t]));
    expect((await read(back, { reverse: true, max: 2, pageSize: 1 })).map((e) => e.ok && e.text())).toEqual(['h2', 'h1']);
    expect((await read(back, { with: `nobody@${ts.config.xmppDomain}` }))).toEqual([]);

    // Rotate to an X25519 key (suite sp1): the next message is sealed to archive key 2; the old
    // ones still open with X-Wing key 1, and the export below carries keys of both suites.
    expect(await back.archiveKeys.rotate('sp1')).toBe(2);
    expect(back.archiveKeys.list().map((k) => [k.id, k.suite])).toEqual([[2, 'sp1'], [1, XWING_SUITE]]);
    back.onMessage((m) => void seen.push(m));
    await alice.agent.send(bob.account.jid, 'h3');
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBe(4);
    const h2 = await read(back);
    expect(h2.map((e) => e.ok && [e.text(), e.archiveKeyId])).toEqual([['h0', 1], ['h1', 1], ['h2', 1], ['h3', 2]]);
    // The vault holds the X-Wing copies larger by exactly the KEM's extra bytes (same headers' sizes).
    const sizes = ts.service.archive.query(bob.account.jid, { max: 10 }).items.map((i) => i.archiveBlock.block.length);
    expect(sizes.map((n) => n - (sizes[3] ?? 0))).toEqual([XWING_EXTRA_BYTES, XWING_EXTRA_BYTES, XWING_EXTRA_BYTES, 0]);

    // A second device of Bob's account imports both keys under a passphrase and reads everything.
    const blob = back.archiveKeys.export('tulip river 42', { limits: pwhashMinimum() });
    const dir2 = mkdtempSync(join(tmpdir(), 'sealpost-agent2-'));
    onTestFinished(() => rmSync(dir2, { recursive: true, force: true }));
    const laptop = await bob.reopen({ dir: dir2, archiveKey: false });
    expect(laptop.device).not.toBe(back.device);
    await expect(laptop.archiveKeys.import(blob, 'wrong')).rejects.toMatchObject({ code: ErrorCode.WrongKey });
    const imported = await laptop.archiveKeys.import(blob, 'tulip river 42');
    expect(imported.added).toEqual([1, 2]);
    expect((await read(laptop)).map((e) => e.ok && e.text())).toEqual(['h0', 'h1', 'h2', 'h3']);

    // Bob forgets key 1: those three become unreadable, here and after a restart; h3 still opens.
    await back.archiveKeys.forget(1);
    const h3 = await read(back);
    expect(h3.map((e) => (e.ok ? e.text() : e.error.code))).toEqual([ErrorCode.NotFound, ErrorCode.NotFound, ErrorCode.NotFound, 'h3']);
    expect(h3[0]?.ok === false && h3[0].error.message).toMatch(/archive key 1 is unknown/);
    await expect(read(back, { strict: true })).rejects.toMatchObject({ code: ErrorCode.NotFound });
    await back.stop();
    const again = await bob.reopen();
    expect((await read(again)).map((e) => e.ok)).toEqual([false, false, false, true]);
    expect(again.archiveKeys.list().map((k) => k.id)).toEqual([2]);

    // The owner's operations: delete by id, then by range; retention policy.
    const h3id = h3[3]!.archiveId;
    expect(await again.deleteHistory({ ids: [h3id] })).toBe(1);
    expect(await again.deleteHistory({ with: alice.account.jid, start: 0, end: Date.now() + 60_000 })).toBe(3);
    expect(await read(again)).toEqual([]);
    expect(await again.setRetention(3600)).toEqual({ user: 3600, global: null, effective: 3600 });
    expect(await again.retention()).toEqual({ user: 3600, global: null, effective: 3600 });
    expect(await again.setRetention(null)).toEqual({ user: null, global: null, effective: null });
    await expect(again.deleteHistory({})).rejects.toMatchObject({ code: ErrorCode.BadInput });
  });
});
