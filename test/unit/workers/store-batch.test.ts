// Batches on the write path (issue 9), without a network: ingest checks every item of a submission
// stanza on its own, refuses a bad one alone and queues the good ones as one job per recipient (in
// stanza order); the store worker commits a batch job's items together, refuses an item over the
// quota alone, acknowledges the stored ones in one receipt call, and stays idempotent when the job
// runs again. When a batch commit fails for one item, the others are still stored one by one.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { handleSubmission, type IngestLimits } from '../../../src/ingest/submit.js';
import { DEFAULT_LIMITS, envelopeToWire, type EnvelopeWire } from '../../../src/keys/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { NS } from '../../../src/protocol/namespaces.js';
import { envelopeToXml } from '../../../src/protocol/xml-codec.js';
import { processStore, type StoreJobData } from '../../../src/workers/index.js';
import { batchJob, jobItems } from '../../../src/workers/store-batch.js';
import { xml, type Element, type XmppConnection } from '../../../src/xmpp/index.js';
import { fixture, type Fixture } from '../archive/helpers.js';
import { agent, sealFor, text } from '../keys/helpers.js';

const alice = agent('alice@example.org', { archive: true });
const bob = agent('bob@example.org', { archive: true, opks: 0 });
const carol = agent('carol@example.org', { opks: 0 });

/** Pending bounds alone: no history bound, no sender share. */
const quota = (pendingMaxCount: number) => ({ pendingMaxCount, pendingMaxBytes: 1 << 30, historyMaxCount: 1e9, historyMaxBytes: 2 ** 40, senderSharePercent: 100 });
const sealed = (to: typeof bob, body: string): EnvelopeWire => envelopeToWire(sealFor(alice, [to], text(body), { senderArchive: true }));

function ingest() {
  const sent: Element[] = [];
  const queued: { jobId: string; data: StoreJobData }[] = [];
  const limits: IngestLimits = { ...DEFAULT_LIMITS, maxStanzaBytes: 256 * 1024, maxItemsPerStanza: 64 };
  const devices = new Map([
    ['bob@example.org', [bob.identity.device]],
    ['carol@example.org', [carol.identity.device]],
  ]);
  const deps = {
    conn: { send: (st: Element) => Promise.resolve(void sent.push(st)) } as unknown as XmppConnection,
    directory: { devices: (jid: string) => devices.get(jid) ?? [], hasArchiveKey: () => true },
    queue: { enqueue: (jobId: string, data: StoreJobData) => Promise.resolve(void queued.push({ jobId, data })) },
    senderLimiter: { take: () => Promise.resolve({ allowed: true, retryAfterMs: 0, remaining: 100 }) },
    limits,
    logger: silentLogger(),
  };
  const submit = (id: string, items: Element[]) =>
    handleSubmission(xml('message', { from: 'alice@example.org/phone', to: 'vault@example.org', id }, ...items, xml('request', { xmlns: NS.receipts })), deps);
  return { sent, queued, submit };
}

describe('a submission stanza with several sealed items', () => {
  it('refuses a bad item alone and queues the good ones as one job, in stanza order', async () => {
    const { sent, queued, submit } = await Promise.resolve(ingest());
    const [one, two, three] = [sealed(bob, 'one'), sealed(bob, 'two'), sealed(bob, 'three')];
    const forged = envelopeToXml({ ...two, from: 'mallory@example.org' });
    await submit('batch-1', [envelopeToXml(one), forged, envelopeToXml(three)]);

    expect(sent).toHaveLength(1);
    expect(sent[0]?.attrs.type).toBe('error');
    expect(sent[0]?.getChild('rejected', NS.sealed)?.attrs.id).toBe(two.id);
    expect(queued).toHaveLength(1);
    const job = queued[0] as { jobId: string; data: StoreJobData };
    expect(jobItems(job.data).map((j) => [j.messageId, j.recipient, j.stanzaId])).toEqual([
      [one.id, 'bob@example.org', 'batch-1'],
      [three.id, 'bob@example.org', 'batch-1'],
    ]);
    expect(job.jobId).toBe(batchJob(jobItems(job.data)).jobId);
  });

  it('queues one job per recipient; a lone item keeps the single-job form', async () => {
    const { queued, submit } = ingest();
    const items = [sealed(bob, 'b1'), sealed(carol, 'c1'), sealed(bob, 'b2')];
    await submit('batch-2', items.map((e) => envelopeToXml(e)));
    expect(queued.map((q) => jobItems(q.data).map((j) => j.messageId))).toEqual([[items[0]?.id, items[2]?.id], [items[1]?.id]]);
    expect(queued[1]?.data.more).toBeUndefined();
  });
});

describe('the store worker on a batch job', () => {
  let f: Fixture;
  let archive: ArchiveStore;
  beforeEach(async () => {
    f = fixture();
    archive = await f.open();
  });
  afterEach(() => f.cleanup());

  const jobOf = (envelopes: EnvelopeWire[]): StoreJobData =>
    batchJob(
      envelopes.map((envelope) => ({
        sender: 'alice@example.org',
        replyTo: 'alice@example.org/phone',
        stanzaId: 'batch-9',
        recipient: envelope.to,
        messageId: envelope.id,
        receivedAt: Date.now(),
        envelope,
      })),
    ).data;

  function notifier() {
    const receipts: string[][] = [];
    const refused: { id: string; code: string }[] = [];
    return {
      receipts,
      refused,
      notifier: {
        receipts: (_j: StoreJobData, ids: readonly string[]) => Promise.resolve(void receipts.push([...ids])),
        refused: (j: StoreJobData, err: AppError) => Promise.resolve(void refused.push({ id: j.messageId, code: err.code })),
      },
    };
  }

  it("refuses an item whose job names another sender, recipient or id than its envelope (a job written past ingest)", async () => {
    const [good, forged, moved] = [sealed(bob, 'good'), sealed(bob, 'forged'), sealed(bob, 'moved')];
    const item = (e: EnvelopeWire) => jobItems(jobOf([e]))[0] as ReturnType<typeof jobItems>[number];
    const n = notifier();
    const deps = { archive, quota: quota(100), logger: silentLogger(), notifier: n.notifier };
    await processStore(jobOf([good]), deps);
    await processStore(batchJob([{ ...item(forged), sender: 'carol@example.org' }]).data, deps);
    await processStore(batchJob([{ ...item(moved), messageId: 'other-id' }]).data, deps);
    expect(n.refused.map((r) => r.code)).toEqual([ErrorCode.Forbidden, ErrorCode.Forbidden]);
    expect(archive.pendingFor('bob@example.org', bob.identity.device, { limit: 10 }).map((p) => p.messageId)).toEqual([good.id]);
    expect(archive.query('carol@example.org', { max: 10 }).items).toHaveLength(0);
  });

  it('refuses an item whose base64 is not base64 (a job written past ingest), without the strict scan the ingest made', async () => {
    const [good, bad, empty] = [sealed(bob, 'good'), sealed(bob, 'bad'), sealed(bob, 'empty')];
    const n = notifier();
    const deps = { archive, quota: quota(100), logger: silentLogger(), notifier: n.notifier };
    const broken = (e: EnvelopeWire, payload: string): EnvelopeWire => ({ ...e, payload });
    await processStore(jobOf([good, broken(bad, `*${bad.payload.slice(1)}`), broken(empty, '====')]), deps);
    expect(n.refused).toEqual([
      { id: bad.id, code: ErrorCode.BadInput },
      { id: empty.id, code: ErrorCode.BadInput },
    ]);
    expect(n.receipts).toEqual([[good.id]]);
    expect(archive.pendingFor('bob@example.org', bob.identity.device, { limit: 10 }).map((p) => p.messageId)).toEqual([good.id]);
  });

  it('commits the items together, refuses the one over the quota alone, acknowledges the rest in one receipt', async () => {
    const envelopes = [sealed(bob, 'a'), sealed(bob, 'b'), sealed(bob, 'c')];
    const n = notifier();
    const stored: string[] = [];
    const deps = {
      archive,
      quota: quota(2),
      logger: silentLogger(),
      notifier: n.notifier,
      listener: { stored: (jid: string) => Promise.resolve(void stored.push(jid)) },
    };
    const r = await processStore(jobOf(envelopes), deps);
    expect(r.inserted).toBe(true);
    expect(n.receipts).toEqual([[envelopes[0]?.id, envelopes[1]?.id]]);
    expect(n.refused).toEqual([{ id: envelopes[2]?.id, code: ErrorCode.ResourceLimit }]);
    expect(archive.pendingCounts('bob@example.org').messages).toBe(2);
    expect(archive.pendingFor('bob@example.org', bob.identity.device, { limit: 10 }).map((p) => p.messageId)).toEqual([envelopes[0]?.id, envelopes[1]?.id]);
    expect(stored).toEqual(['bob@example.org']);
    // The sender's own-AK copies went to Alice's archive in the same way.
    expect(archive.query('alice@example.org', { max: 10 }).items).toHaveLength(2);

    // The job again (a retry): the stored items are repeats, acknowledged again, nothing doubled.
    const again = notifier();
    await processStore(jobOf(envelopes.slice(0, 2)), { ...deps, notifier: again.notifier });
    expect(again.receipts).toEqual([[envelopes[0]?.id, envelopes[1]?.id]]);
    expect(again.refused).toEqual([]);
    expect(archive.pendingCounts('bob@example.org').messages).toBe(2);
  });

  it('stores the good items one by one when the batch commit fails for one of them', async () => {
    const envelopes = [sealed(bob, 'x'), sealed(bob, 'y'), sealed(bob, 'z')];
    const badId = envelopes[1]?.id as string;
    const picky: Pick<ArchiveStore, 'storeIncoming' | 'storeOutgoing' | 'quotaUsage' | 'deliveryState' | 'storeIncomingMany' | 'storeOutgoingMany'> = {
      storeIncoming: (jid, item) => {
        if (item.messageId === badId) throw new AppError(ErrorCode.BadInput, 'this one is refused by the archive');
        return archive.storeIncoming(jid, item);
      },
      storeOutgoing: (jid, item) => archive.storeOutgoing(jid, item),
      quotaUsage: (jid, senders) => archive.quotaUsage(jid, senders),
      deliveryState: (jid, s, id) => archive.deliveryState(jid, s, id),
      storeIncomingMany: () => {
        throw new AppError(ErrorCode.BadInput, 'one item of the batch is refused');
      },
      storeOutgoingMany: (jid, items) => archive.storeOutgoingMany(jid, items),
    };
    const n = notifier();
    await processStore(jobOf(envelopes), { archive: picky, quota: quota(100), logger: silentLogger(), notifier: n.notifier });
    expect(n.refused).toEqual([{ id: badId, code: ErrorCode.BadInput }]);
    expect(n.receipts).toEqual([[envelopes[0]?.id, envelopes[2]?.id]]);
    expect(archive.pendingCounts('bob@example.org').messages).toBe(2);
  });
});
