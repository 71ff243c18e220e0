// The fuzzing target (issue 9, "Fuzzing"): the vault's real handlers — submissions (ingest), the
// key directory's IQs, history (MAM) and archive operations, disco — registered on a fake
// XmppConnection, over real encrypted archive files, a real directory file and real Redis rate
// limiters. `run()` feeds one stanza the way the service would get it and checks what came back:
// no throw, one answer per IQ and per submitted item, nothing of another user's archive in any
// answer. `check()` compares the victims' stored data with the snapshot taken after seeding.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArchiveStore, type ArchiveStore } from '../../src/archive/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openDirectoryStore, registerDirectory, type DirectoryStore } from '../../src/directory/index.js';
import { handleSubmission, isSubmission, registerDisco, registerMam, type IngestLimits } from '../../src/ingest/index.js';
import { bundleToWire, createAgentKeys, decodeBundle, initSodium, publicBundle, randomBytes, resolveLimits, toBase64, type EnvelopeWire } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { createRateLimiter } from '../../src/ratelimit/index.js';
import { createRedis, processStore, type Redis, type StoreJobData } from '../../src/workers/index.js';
import { bundleOf, sealedFor, seedStanzas, type Party } from './seeds.js';
import { bareJid, isElement, stanzaError, xml, type Element, type IqHandler, type XmppConnection } from '../../src/xmpp/index.js';

export const DOMAIN = 'localhost';
export const VAULT = `vault@${DOMAIN}`;
export const VAULT_FULL = `${VAULT}/vault`;

/** A connection that records what the handlers send and keeps their IQ handlers for dispatch. */
export class FakeConnection implements XmppConnection {
  readonly jid = VAULT_FULL;
  readonly bareJid = VAULT;
  readonly status = 'online';
  sent: Element[] = [];
  readonly handlers = new Map<string, IqHandler>();
  send(stanza: Element): Promise<void> {
    this.sent.push(stanza);
    return Promise.resolve();
  }
  sendReceive(): Promise<Element> {
    return Promise.reject(new Error('the fuzz target sends no IQs'));
  }
  readonly iqCallee = {
    get: (ns: string, name: string, handler: IqHandler): (() => void) => this.retire(this.handlers.set(`get ${ns} ${name}`, handler), `get ${ns} ${name}`),
    set: (ns: string, name: string, handler: IqHandler): (() => void) => this.retire(this.handlers.set(`set ${ns} ${name}`, handler), `set ${ns} ${name}`),
  };
  private retire(handlers: Map<string, IqHandler>, key: string): () => void {
    return () => void handlers.delete(key);
  }
  on(): () => void {
    return () => undefined;
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

export type Answer = 'result' | 'error' | 'not-ours';

export interface Outcome {
  kind: 'iq' | 'submission' | 'other';
  answer: Answer;
  /** Items of a submission: accepted (queued) and refused one by one. */
  accepted: number;
  refused: number;
}

/** A property violation: the case is printed with it by fast-check. */
export class FuzzFailure extends Error {}

export interface Seeds {
  /** Stanzas the fuzzer mutates: each valid for the handlers when sent `from` the attacker. */
  messages: Element[];
  iqs: Element[];
  attacker: string;
  /** Values worth planting: real archive ids, message ids, device ids, JIDs. */
  tokens: string[];
}

export interface FuzzWorld {
  seeds: Seeds;
  run(stanza: Element): Promise<Outcome>;
  /** Throws FuzzFailure when the victims' data changed beyond the prekey claims answered. */
  check(): void;
  stats: { cases: number; iq: Record<string, number>; submissions: { accepted: number; refused: number }; claimed: number };
  close(): Promise<void>;
}

const stable = (v: unknown): string =>
  createHash('sha256')
    .update(JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString('base64') : x)))
    .digest('hex');

/** Builds the world in a temp dir; `redisUrl` holds the rate limiters (keys under a unique prefix). */
export async function createFuzzWorld(options: { redisUrl: string }): Promise<FuzzWorld> {
  await initSodium();
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-fuzz-'));
  const config = loadConfig({ SEALPOST_DATA_DIR: dir });
  const logger = silentLogger();
  const masterKey = randomBytes(32);
  const archive: ArchiveStore = await createArchiveStore({ dir: join(dir, 'archive'), masterKey, cipher: 'chacha20', logger });
  // Accepted submissions are stored here, not in the victims' archive: the store path is fuzzed
  // with whatever the ingest let through, and the snapshot below stays exact.
  const scratch: ArchiveStore = await createArchiveStore({ dir: join(dir, 'scratch'), masterKey, cipher: 'chacha20', logger });
  const directory: DirectoryStore = openDirectoryStore({ path: join(dir, 'directory.db'), key: randomBytes(32), cipher: 'chacha20' });
  const redis: Redis = createRedis(options.redisUrl, 'worker');
  const prefix = `fuzz${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`;
  const redisNameKey = new Uint8Array(randomBytes(32));

  const now = Date.now();
  const party = (local: string): Party => {
    const jid = `${local}@${DOMAIN}`;
    return { jid, keys: createAgentKeys({ jid, now, oneTimePrekeys: 100, archiveKey: true }) };
  };
  const alice = party('alice');
  const bob = party('bob');
  const mallory = party('mallory');
  for (const p of [alice, bob, mallory]) directory.publish(decodeBundle(bundleToWire(publicBundle(p.keys)), { expectJid: p.jid, now }), now, config.maxDevices);

  // Seed history: alice → bob (the victims'), alice → mallory and mallory → bob (the attacker's own).
  const quota = { pendingMaxCount: 1_000_000, pendingMaxBytes: 2 ** 40, historyMaxCount: 1_000_000, historyMaxBytes: 2 ** 40, senderSharePercent: 100 };
  const quiet = { refused: () => Promise.resolve(), receipts: () => Promise.resolve() };
  const seedStore = async (target: ArchiveStore, from: Party, to: Party, n: number): Promise<EnvelopeWire[]> => {
    const out: EnvelopeWire[] = [];
    for (let i = 0; i < n; i++) {
      const envelope = sealedFor(from, to.jid, [bundleOf(to, now)], `seed ${i}`, now);
      const job: StoreJobData = { sender: from.jid, replyTo: `${from.jid}/x`, stanzaId: envelope.id, recipient: to.jid, messageId: envelope.id, receivedAt: now - (n - i) * 1000, envelope };
      await processStore(job, { archive: target, quota, logger, notifier: quiet });
      out.push(envelope);
    }
    return out;
  };
  const victimMessages = await seedStore(archive, alice, bob, 20);
  const malloryIn = await seedStore(archive, alice, mallory, 10);
  await seedStore(archive, mallory, bob, 5);

  const conn = new FakeConnection();
  registerDisco({ conn });
  registerMam({ conn, archive, limits: archive.limits, globalRetentionSeconds: 0, mamRatePerMinute: 1_000_000, mamBurst: 1_000_000, redis, prefix, redisNameKey, logger });
  registerDirectory({
    conn,
    store: directory,
    redis,
    prefix,
    redisNameKey,
    maxOneTimePrekeys: config.maxOneTimePrekeys,
    prekeyLowWater: config.prekeyLowWater,
    claimRatePerMinute: 1_000_000,
    claimBurst: 1_000_000,
    claimTargetRatePerMinute: 1_000_000,
    claimTargetBurst: 1_000_000,
    lookupRatePerMinute: 1_000_000,
    lookupBurst: 1_000_000,
    maxDevices: config.maxDevices,
    maxStanzaBytes: config.maxStanzaBytes,
    logger,
  });
  const limits: IngestLimits = { ...resolveLimits(), maxStanzaBytes: config.maxStanzaBytes, maxItemsPerStanza: 64 };
  const senderLimiter = createRateLimiter(redis, `${prefix}:submit`, { capacity: 1_000_000, perMinute: 1_000_000 }, redisNameKey);

  // What must not change, and what must never be shown to anyone but its owner.
  const victims = [alice, bob];
  const devicesOf = (p: Party): number[] => directory.devices(p.jid);
  const snapshot = victims.map((p) => ({
    rows: stable(archive.auditRows(p.jid)),
    devices: devicesOf(p),
    identity: devicesOf(p).map((d) => stable(directory.identityKey(p.jid, d))),
  }));
  const opkCount = (p: Party): number => devicesOf(p).reduce((n, d) => n + (directory.count(p.jid, d) ?? 0), 0);
  const opksBefore = victims.map(opkCount);
  const claimedFrom = new Map<string, number>();
  const firstOwnId = archive.query(mallory.jid, { max: 1 }).items[0]?.archiveId;
  // Secrets: the victims' archive ids, and the ids and payloads of messages the attacker neither
  // sent nor received.
  const secrets = new Set<string>();
  for (const p of victims)
    for (const t of archive.auditRows(p.jid))
      if (t.table === 'message')
        for (const row of t.rows) {
          if (typeof row.archive_id === 'string') secrets.add(row.archive_id);
          if (row.peer === mallory.jid) continue;
          if (typeof row.message_id === 'string') secrets.add(row.message_id);
          if (row.payload instanceof Uint8Array) secrets.add(toBase64(row.payload).slice(8, 72));
        }
  for (const e of victimMessages) secrets.add(e.id);

  // Seeds for mutation, valid when sent from the attacker.
  const attacker = `${mallory.jid}/fuzz`;
  const seeded = seedStanzas({
    vaultBare: VAULT,
    vaultFull: VAULT_FULL,
    attacker: mallory,
    victim: { jid: bob.jid, bundles: [bundleOf(bob, now)] },
    other: { jid: alice.jid, bundles: [bundleOf(alice, now)] },
    foreign: sealedFor(alice, bob.jid, [bundleOf(bob, now)], 'not mallory', now),
    ...(firstOwnId === undefined ? {} : { ownArchiveId: firstOwnId }),
    now,
  });
  const seeds: Seeds = {
    attacker,
    ...seeded,
    tokens: [
      firstOwnId ?? 'AAAAAAAAAAAAAAAAAAAAAA',
      ...[...secrets].slice(0, 4),
      ...malloryIn.slice(0, 2).map((e) => e.id),
      String(bob.keys.identity.device),
      String(mallory.keys.identity.device),
      alice.jid,
      bob.jid,
      mallory.jid,
      VAULT,
      NS.mam,
    ],
  };

  /** internal-server-error: what the vault answers when something other than a checked AppError was thrown. */
  const internal = (error: Element | undefined): boolean => error?.getChild('internal-server-error', NS.stanzas) !== undefined;
  const stats: FuzzWorld['stats'] = { cases: 0, iq: {}, submissions: { accepted: 0, refused: 0 }, claimed: 0 };
  const fail = (why: string): never => {
    throw new FuzzFailure(why);
  };

  /** What the vault sent must not carry a victim's archive to anyone but that victim. */
  const checkLeaks = (requester: string | undefined, out: readonly Element[], input: Element): void => {
    let owner: string | undefined;
    try {
      owner = requester === undefined ? undefined : bareJid(requester);
    } catch {
      owner = undefined;
    }
    if (owner === alice.jid || owner === bob.jid) return;
    const asked = input.toString(); // an error may echo what the requester sent: that is no leak
    for (const s of out) {
      const text = s.toString();
      for (const secret of secrets)
        if (text.includes(secret) && !asked.includes(secret)) fail(`a victim's archive item ${secret} was sent to ${String(requester)}`);
    }
  };

  const countClaims = (reply: Element): void => {
    const bundles = reply.getChild('bundles', NS.keys);
    const target: unknown = bundles?.attrs.jid;
    if (bundles === undefined || typeof target !== 'string') return;
    const opks = bundles.getChildren('entry').reduce((n, e) => n + (e.getChild('bundle', NS.keys)?.getChildren('opk').length ?? 0), 0);
    claimedFrom.set(target, (claimedFrom.get(target) ?? 0) + opks);
    stats.claimed += opks;
  };

  /** xmpp.js's IQ callee (@xmpp/iq/callee.js), with a throwing handler as a failure instead of internal-server-error. */
  const dispatchIq = async (stanza: Element): Promise<Answer> => {
    const type: unknown = stanza.attrs.type;
    if (type === 'result' || type === 'error') return 'not-ours';
    const children = stanza.getChildElements();
    const child = children[0];
    if ((type !== 'get' && type !== 'set') || children.length !== 1 || child === undefined) return 'error';
    const handler = conn.handlers.get(`${type} ${String(child.getNS())} ${child.name}`);
    if (handler === undefined) return 'error'; // service-unavailable
    const from = typeof stanza.attrs.from === 'string' ? stanza.attrs.from : DOMAIN;
    let reply: Element | true | undefined;
    try {
      reply = await handler({ stanza, element: child, from });
    } catch (err) {
      fail(`the ${type} <${child.name} xmlns='${String(child.getNS())}'/> handler threw: ${(err as Error).stack ?? String(err)}`);
    }
    const tally = (answer: Answer): Answer => {
      stats.iq[`${child.name} ${answer}`] = (stats.iq[`${child.name} ${answer}`] ?? 0) + 1;
      return answer;
    };
    if (reply === undefined) return tally('error');
    if (reply === true) return tally('result');
    if (!isElement(reply)) fail(`the <${child.name}/> handler returned ${typeof reply}`);
    const answer: Answer = reply.is('error') ? 'error' : 'result';
    if (answer === 'error' && internal(reply)) fail(`the <${child.name}/> handler failed inside: ${reply.toString().slice(0, 300)}`);
    if (answer === 'result') countClaims(xml('iq', {}, reply));
    checkLeaks(from, [reply], stanza);
    return tally(answer);
  };

  const submit = async (stanza: Element): Promise<Outcome> => {
    const items = stanza.getChildren('sealed', NS.sealed).length;
    const jobs: StoreJobData[] = [];
    try {
      await handleSubmission(stanza, {
        conn,
        directory,
        senderLimiter,
        limits,
        logger,
        queue: {
          enqueue: (_jobId, data) => {
            jobs.push(data);
            return Promise.resolve();
          },
        },
      });
    } catch (err) {
      fail(`handleSubmission threw: ${(err as Error).stack ?? String(err)}`);
    }
    const from = typeof stanza.attrs.from === 'string' ? stanza.attrs.from : undefined;
    let sender: string | undefined;
    try {
      sender = from === undefined ? undefined : bareJid(from);
    } catch {
      sender = undefined;
    }
    const refusals = conn.sent.filter((s) => s.is('message') && s.attrs.type === 'error');
    for (const r of refusals) if (internal(r.getChild('error'))) fail(`a submission failed inside the vault: ${r.toString().slice(0, 300)}`);
    const whole = refusals.filter((s) => typeof s.getChild('rejected', NS.sealed)?.attrs.id !== 'string');
    const accepted = jobs.reduce((n, j) => n + 1 + ((j as { more?: unknown[] }).more?.length ?? 0), 0);
    if (sender === undefined) {
      if (conn.sent.length > 0 || accepted > 0) fail('a submission without a valid stamped sender was answered or queued');
      return { kind: 'submission', answer: 'not-ours', accepted: 0, refused: 0 };
    }
    for (const s of conn.sent) if (s.attrs.to !== from) fail(`an answer to a submission from ${from} went to ${String(s.attrs.to)}`);
    // Either the stanza was refused as a whole (one refusal naming no item), or each item has its
    // answer: queued, or refused (naming its id when it had one).
    const wholeStanza = refusals.length === 1 && whole.length === 1 && accepted === 0;
    if (!wholeStanza && accepted + refusals.length !== items) fail(`${items} items, but ${accepted} queued and ${refusals.length} refused`);
    for (const j of jobs) {
      if (j.sender !== sender) fail(`a job for ${j.sender} from a stanza of ${sender}`);
      const known = new Set(directory.devices(j.recipient));
      if (known.size === 0) fail(`a job for ${j.recipient}, who has no devices`);
      for (const b of j.envelope.blocks) if (b.device !== undefined && !known.has(b.device)) fail(`a key block for unknown device ${b.device}`);
      // What the ingest accepted, the store worker must commit, or refuse with a notice to the
      // sender: a job that only fails is retried, then parked, while the sender waits for ever.
      let noticed = false;
      const notifier = { ...quiet, refused: () => Promise.resolve(void (noticed = true)) };
      try {
        await processStore(j, { archive: scratch, quota, logger, notifier });
      } catch (err) {
        if (!noticed) fail(`the store worker failed on an accepted job without telling the sender: ${(err as Error).stack ?? String(err)}`);
      }
    }
    checkLeaks(from, conn.sent, stanza);
    stats.submissions.accepted += accepted;
    stats.submissions.refused += wholeStanza ? items : refusals.length;
    return { kind: 'submission', answer: refusals.length > 0 ? 'error' : 'result', accepted, refused: refusals.length };
  };

  return {
    seeds,
    stats,
    async run(stanza) {
      stats.cases++;
      conn.sent = [];
      if (stanza.is('iq')) {
        const answer = await dispatchIq(stanza);
        checkLeaks(typeof stanza.attrs.from === 'string' ? stanza.attrs.from : undefined, conn.sent, stanza);
        return { kind: 'iq', answer, accepted: 0, refused: 0 };
      }
      if (isSubmission(stanza)) return submit(stanza);
      return { kind: 'other', answer: 'not-ours', accepted: 0, refused: 0 };
    },
    check() {
      victims.forEach((p, i) => {
        const before = snapshot[i];
        if (before === undefined) return;
        if (stable(archive.auditRows(p.jid)) !== before.rows) fail(`${p.jid}'s archive changed`);
        if (JSON.stringify(devicesOf(p)) !== JSON.stringify(before.devices)) fail(`${p.jid}'s published devices changed`);
        if (JSON.stringify(devicesOf(p).map((d) => stable(directory.identityKey(p.jid, d)))) !== JSON.stringify(before.identity))
          fail(`${p.jid}'s identity keys changed`);
        const expected = Math.max(0, (opksBefore[i] ?? 0) - (claimedFrom.get(p.jid) ?? 0));
        if (opkCount(p) !== expected) fail(`${p.jid} has ${opkCount(p)} one-time prekeys, expected ${expected} after the claims answered`);
      });
    },
    async close() {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      archive.close();
      scratch.close();
      directory.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The stanza error element an IQ handler returns, for tests that want one. */
export const anError = (): Element => stanzaError('modify', 'bad-request', 'fuzz');
