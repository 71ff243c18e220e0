// Per-user IQs answered by the shard's owner (issue 15, design.md "Ingest ... forwards per-user
// IQs (MAM, directory, deletes, preferences) to the owner"). The ingest forwards each routed IQ
// whole, with the sender the XMPP server stamped, to the owner of the user it concerns; the owner
// runs the very handlers a single process registers (registerMam, registerDirectory) against a
// connection that collects what they send (MAM result messages) and returns it with the result;
// the ingest sends both from its own JID, so a client sees the answers it sees today.
import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { answerIq, NS, NS_ARCHIVE } from '../protocol/index.js';
import { bareJid, isElement, parseXml, type Element, type IqHandler, type XmppConnection } from '../xmpp/index.js';

/** The IQs that concern one user, and which user: the sender, or the `jid` it names. */
export const ROUTED_IQS: readonly { type: 'get' | 'set'; ns: string; name: string; user: 'sender' | 'target' | 'file-recipient' }[] = [
  { type: 'get', ns: NS.mam, name: 'query', user: 'sender' },
  { type: 'set', ns: NS.mam, name: 'query', user: 'sender' },
  { type: 'set', ns: NS_ARCHIVE, name: 'delete', user: 'sender' },
  { type: 'get', ns: NS_ARCHIVE, name: 'retention', user: 'sender' },
  { type: 'set', ns: NS_ARCHIVE, name: 'retention', user: 'sender' },
  { type: 'set', ns: NS.keys, name: 'publish', user: 'sender' },
  { type: 'set', ns: NS.keys, name: 'fetch', user: 'target' },
  { type: 'get', ns: NS.keys, name: 'count', user: 'sender' },
  { type: 'get', ns: NS.keys, name: 'devices', user: 'target' },
  { type: 'set', ns: NS.keys, name: 'remove', user: 'sender' },
  // XEP-0363 slot requests: the blob lives in the recipient's shard (its <file recipient=…/>).
  { type: 'get', ns: NS.upload, name: 'request', user: 'file-recipient' },
];

/** What travels to the owner: the whole IQ and its stamped sender. */
export interface RoutedIq {
  iq: string;
  from: string;
  /** Slot requests: the upload URL agents reach (the ingest's front), for the owner's slot URLs. */
  base?: string;
}

/** What comes back: stanzas sent while answering (in order), then the result (`true` = empty). */
export interface RoutedAnswer {
  out: string[];
  result: string | true | null;
}

export interface ForwardingDeps {
  conn: XmppConnection;
  bus: { request(shard: number, payload: unknown, timeoutMs?: number): Promise<unknown> };
  shardOf(jid: string): number;
  logger: Logger;
  timeoutMs?: number;
  /**
   * How long an IQ waits for its shard to have an owner (a new deployment's first shards, a
   * takeover), asking again every `ownerRetryMs`, before it is answered service-unavailable.
   * Safe to ask again: nobody received the request. Default 8 s, 250 ms.
   */
  ownerWaitMs?: number;
  ownerRetryMs?: number;
  /** The public upload URL of the ingest's front (src/upload), sent with each slot request. */
  uploadBase?: () => string;
}

/** Asks the shard's owner; while the shard has none, waits for one up to `ownerWaitMs`. */
async function askOwner(deps: ForwardingDeps, shard: number, payload: RoutedIq): Promise<unknown> {
  const waitMs = deps.ownerWaitMs ?? 8_000;
  const retryMs = deps.ownerRetryMs ?? 250;
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return await deps.bus.request(shard, payload, deps.timeoutMs);
    } catch (err) {
      const noOwner = AppError.is(err, ErrorCode.Unavailable) && /has no owner/.test((err as Error).message);
      if (!noOwner || Date.now() + retryMs > until) throw err;
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}

function isAnswer(v: unknown): v is RoutedAnswer {
  const a = v as Partial<RoutedAnswer> | null;
  return (
    typeof a === 'object' && a !== null && Array.isArray(a.out) && a.out.every((s) => typeof s === 'string') &&
    (a.result === true || a.result === null || typeof a.result === 'string')
  );
}

/** Ingest: answers every routed IQ by asking the owner of the user it concerns. */
export function registerForwarding(deps: ForwardingDeps): () => void {
  const log = deps.logger.child({ module: 'routing' });
  const offs = ROUTED_IQS.map((r) =>
    deps.conn.iqCallee[r.type](r.ns, r.name, (ctx) =>
      answerIq(log, `forward ${r.name}`, async () => {
        const sender = bareJid(ctx.from);
        let user = sender;
        const named: unknown = r.user === 'target' ? ctx.element.attrs.jid : r.user === 'file-recipient' ? ctx.element.getChild('file', NS.files)?.attrs.recipient : undefined;
        if (typeof named === 'string') {
          try {
            user = bareJid(named);
          } catch {
            // malformed: the sender's owner gives the same bad-request as a single process
          }
        }
        const payload: RoutedIq = { iq: ctx.stanza.toString(), from: ctx.from };
        if (r.user === 'file-recipient' && deps.uploadBase !== undefined) payload.base = deps.uploadBase();
        const answer = await askOwner(deps, deps.shardOf(user), payload);
        if (!isAnswer(answer)) throw new AppError(ErrorCode.Internal, 'malformed answer from the owner');
        for (const s of answer.out) await deps.conn.send(parseXml(s));
        if (answer.result === null) throw new AppError(ErrorCode.Unavailable, 'the owner has no handler for this request');
        return answer.result === true ? true : parseXml(answer.result);
      }),
    ),
  );
  return () => offs.forEach((off) => off());
}

export interface IqOwner {
  /** The connection to register the per-user surfaces on (registerMam, registerDirectory). */
  readonly conn: XmppConnection;
  /** Answers one forwarded IQ with the handlers registered on `conn`. */
  answer(payload: unknown): Promise<RoutedAnswer>;
  /** Inside a handler: the forwarded request it answers. */
  routed(): RoutedIq | undefined;
}

/** Owner: a stand-in connection whose IQ handlers answer forwarded requests. */
export function iqOwner(real: XmppConnection): IqOwner {
  const handlers = new Map<string, IqHandler>();
  const sent = new AsyncLocalStorage<Element[]>();
  const current = new AsyncLocalStorage<RoutedIq>();
  const retire = (map: Map<string, IqHandler>, key: string) => (): void => void map.delete(key);
  const conn: XmppConnection = {
    get jid() {
      return real.jid;
    },
    bareJid: real.bareJid,
    get status() {
      return real.status;
    },
    // Inside an answer, stanzas go back with it; later ones (e.g. a replenish notice) go out here.
    send: (stanza) => {
      const out = sent.getStore();
      if (out === undefined) return real.send(stanza);
      out.push(stanza);
      return Promise.resolve();
    },
    sendReceive: (iq, timeoutMs) => real.sendReceive(iq, timeoutMs),
    iqCallee: {
      get: (ns, name, handler) => retire(handlers.set(`get ${ns} ${name}`, handler), `get ${ns} ${name}`),
      set: (ns, name, handler) => retire(handlers.set(`set ${ns} ${name}`, handler), `set ${ns} ${name}`),
    },
    on: (event, listener) => real.on(event, listener),
    stop: () => real.stop(),
  };
  return {
    conn,
    routed: () => current.getStore(),
    async answer(payload) {
      const p = payload as Partial<RoutedIq> | null;
      if (typeof p !== 'object' || p === null || typeof p.iq !== 'string' || typeof p.from !== 'string')
        throw new AppError(ErrorCode.BadInput, 'malformed routed request');
      const from = p.from;
      const routed: RoutedIq = { iq: p.iq, from, ...(typeof p.base === 'string' ? { base: p.base } : {}) };
      const stanza = parseXml(p.iq);
      const element = stanza.children.find(isElement);
      const type: unknown = stanza.attrs.type;
      const handler = element === undefined ? undefined : handlers.get(`${String(type)} ${String(element.attrs.xmlns)} ${element.name}`);
      if (element === undefined || handler === undefined) return { out: [], result: null };
      const out: Element[] = [];
      const result = await current.run(routed, () => sent.run(out, () => handler({ stanza, element, from })));
      return { out: out.map((s) => s.toString()), result: result === undefined ? null : result === true ? true : result.toString() };
    },
  };
}
