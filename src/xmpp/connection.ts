// The one place that creates xmpp.js clients (@xmpp/client 0.14): a small typed connection with
// send, IQ caller/callee, events, stop; reconnect on by default (xmpp.js's @xmpp/reconnect) and
// stream management (XEP-0198) when the server offers it. Logs statuses and error names only:
// never a stanza, never a body.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { client, type Client } from '@xmpp/client';
import { AppError, ErrorCode } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { parseJid } from '../jid/index.js';
import { frameInput } from './stanza-bound.js';
import { StanzaError } from './stanza-error.js';
import { isElement, xml, type Element } from './xml.js';
import { isLoopbackUrl } from '../net/index.js';

export interface XmppConnectOptions {
  /** `xmpp://host:port` (plain or STARTTLS), `xmpps://host:port` (direct TLS), `ws(s)://...`. */
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  logger?: Logger;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  /** Limit for the initial connect and login; default 15 s. */
  timeoutMs?: number;
  /**
   * When the server ends the stream with `conflict` (RFC 6120 §4.9.3.3: another session bound this
   * resource): 'reconnect' (default, xmpp.js's way) or 'stop'. Two processes on one resource that
   * both reconnect replace each other for ever; a service gives up ('stop') and says so.
   */
  onConflict?: 'reconnect' | 'stop';
  /**
   * Most bytes of one stanza taken from the server (default 16 MiB): a larger one is dropped
   * unread, counted for XEP-0198, its sender answered policy-violation (stanza-bound.ts).
   */
  maxStanzaBytes?: number;
}

export interface IqContext {
  /** The whole `<iq/>`. */
  stanza: Element;
  /** Its one child, the query. */
  element: Element;
  /** The sender as stamped by the server (the server's domain when absent). Normalise before use. */
  from: string;
}

/** Return an element (the result's child), `true` (empty result), or `stanzaError(...)`. */
export type IqHandler = (ctx: IqContext) => Element | true | undefined | Promise<Element | true | undefined>;

export interface XmppEvents {
  stanza: [stanza: Element];
  /** After login and resource binding; again after each reconnect. */
  online: [jid: string];
  offline: [];
  /** Stream management resumed a session after a reconnect (no new `online`). */
  resumed: [];
  error: [error: Error];
  /** The server ended the stream with `conflict`: another session took this resource. */
  conflict: [error: AppError];
}

export interface XmppConnection {
  /** Full JID bound by the server (updated on reconnect). */
  readonly jid: string;
  /** Normalised bare JID of this account. */
  readonly bareJid: string;
  /** xmpp.js status: online, offline, connecting, disconnect, ... */
  readonly status: string;
  send(stanza: Element): Promise<void>;
  /** Sends an `<iq/>` and resolves with the `<iq type='result'/>`; StanzaError on type='error'. */
  sendReceive(iq: Element, timeoutMs?: number): Promise<Element>;
  /** IQ handlers; each returns a function retiring it (xmpp.js keeps it, answering service-unavailable). */
  iqCallee: {
    get(ns: string, name: string, handler: IqHandler): () => void;
    set(ns: string, name: string, handler: IqHandler): () => void;
  };
  on<E extends keyof XmppEvents>(event: E, listener: (...args: XmppEvents[E]) => void): () => void;
  /** Closes the stream and stops reconnecting. Idempotent. */
  stop(): Promise<void>;
}

// @types/xmpp__client points at '@xmpp/iq/caller' and '@xmpp/iq/callee', which NodeNext cannot
// resolve (the package's exports map lacks them), so those members come out untyped. These are
// the shapes of @xmpp/iq 0.14 (caller.js, callee.js) that we use.
interface IqCallerLike {
  request(stanza: Element, timeout?: number): Promise<Element>;
}
type CalleeMiddleware = (ctx: { stanza: Element; element?: Element }) => Promise<Element | true | undefined>;
interface IqCalleeLike {
  get(ns: string, name: string, handler: CalleeMiddleware): void;
  set(ns: string, name: string, handler: CalleeMiddleware): void;
}

const NS_SM = 'urn:xmpp:sm:3';

/** Only the safe parts of an error for logs (xmpp.js errors carry the offending element). */
function describe(err: unknown): { name: string; message: string; condition?: string } {
  if (!(err instanceof Error)) return { name: 'unknown', message: String(err).slice(0, 200) };
  const condition = (err as { condition?: unknown }).condition;
  return { name: err.name, message: err.message.slice(0, 300), ...(typeof condition === 'string' ? { condition } : {}) };
}

/**
 * SASL mechanism choice. Over TLS: the server's best that xmpp.js knows (SCRAM first). In clear
 * text: never PLAIN, except on loopback, where it avoids xmpp.js's pure-JS SCRAM key derivation
 * (~1.5 s per login at Prosody's 10,000 iterations) and the password cannot be sniffed off a wire.
 */
export function chooseMechanism(mechanisms: readonly string[], secure: boolean, loopback: boolean): string | undefined {
  if (secure) return mechanisms[0];
  if (loopback && mechanisms.includes('PLAIN')) return 'PLAIN';
  return mechanisms.find((m) => m !== 'PLAIN');
}

function startError(err: unknown, who: string): AppError {
  const d = describe(err);
  if (d.name === 'SASLError' || d.condition === 'not-authorized')
    return new AppError(ErrorCode.Forbidden, `XMPP login refused for ${who}: ${d.condition ?? d.message}`, { cause: err, permanent: true });
  if (AppError.is(err)) return err;
  return new AppError(ErrorCode.Unavailable, `XMPP connect failed for ${who}: ${d.message}`, { cause: err });
}

/** Connects, logs in, binds a resource; resolves once online. */
export async function connectXmpp(options: XmppConnectOptions): Promise<XmppConnection> {
  const who = `${options.username}@${options.domain}`;
  const bare = parseJid(who).bare;
  const logger = (options.logger ?? silentLogger()).child({ module: 'xmpp', jid: bare, resource: options.resource });
  const loopback = isLoopbackUrl(options.service);
  const entity: Client = client({
    service: options.service,
    domain: options.domain,
    username: options.username,
    credentials: async (authenticate, mechanisms, _fast, self) => {
      const mechanism = chooseMechanism(mechanisms, self.isSecure(), loopback);
      if (mechanism === undefined)
        throw new AppError(ErrorCode.Unavailable, 'no SASL mechanism the connection may use (PLAIN refused in clear text)');
      const userAgent = xml('user-agent', { id: randomUUID() }, xml('software', {}, 'sealpost'));
      await authenticate({ username: options.username, password: options.password }, mechanism, userAgent);
    },
    ...(options.resource === undefined ? {} : { resource: options.resource }),
  });
  // Every socket chunk goes through our byte bound first (stanza-bound.ts).
  frameInput(entity, { maxBytes: options.maxStanzaBytes ?? 16 * 1024 * 1024, level: /^wss?:/.test(options.service) ? 1 : 2, logger });
  const events = new EventEmitter();
  let fullJid = '';
  let stopped = false;

  entity.on('error', (err: Error) => {
    logger.warn({ error: describe(err) }, 'xmpp error');
    if (events.listenerCount('error') > 0) events.emit('error', err);
    if (err.name === 'StreamError' && describe(err).condition === 'conflict') onConflict(err);
  });
  // xmpp.js emits the stream error before it closes the socket, so stopping reconnect here comes
  // before its 'disconnect' (which would schedule the reconnect).
  const onConflict = (err: Error): void => {
    if (options.onConflict === 'stop') entity.reconnect.stop();
    const text = (err as { text?: unknown }).text;
    const conflict = new AppError(
      ErrorCode.Unavailable,
      `XMPP session ${fullJid || who} replaced by another connection on the same resource (stream error conflict${typeof text === 'string' && text !== '' ? `: ${text.slice(0, 200)}` : ''})`,
      { cause: err, permanent: true },
    );
    logger.error({ resource: options.resource, reconnect: options.onConflict !== 'stop' }, 'xmpp stream conflict: another session took this resource');
    events.emit('conflict', conflict);
  };
  entity.on('status', (status: string) => {
    logger.debug({ status }, 'xmpp status');
    // Stanzas are small and latency-bound (IQ round trips, receipts): without TCP_NODELAY each
    // one can wait ~40 ms for Nagle's algorithm and delayed ACKs. Set again after STARTTLS.
    if (status === 'connect' || status === 'open') {
      const socket = (entity as unknown as { socket?: { setNoDelay?: (on: boolean) => unknown } }).socket;
      socket?.setNoDelay?.(true);
    }
  });
  entity.on('stanza', (stanza: Element) => events.emit('stanza', stanza));
  // xmpp.js 0.14 reports 'online' at resource binding, before its XEP-0198 <enable/> is answered,
  // and zeroes its inbound count when it handles <enabled/>. A stanza the server sends meanwhile
  // (the echo of a first presence sent right after 'online') is then left out of 'h', the count
  // goes backwards and Prosody drops the session (seen in tests). So 'online', and connectXmpp,
  // wait until <enabled/> or <failed/> has been handled.
  let smOffered = false;
  let smAnswered: (() => void) | undefined;
  entity.on('nonza', (el: Element) => {
    if (el.name === 'stream:features') smOffered = el.getChild('sm', NS_SM) !== undefined;
    else if (el.is('enabled', NS_SM) || el.is('failed', NS_SM)) smAnswered?.();
  });
  const smSettled = (): Promise<void> =>
    smOffered
      ? new Promise((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            smAnswered = undefined;
            setImmediate(resolve); // after xmpp.js's own continuation for <enabled/>
          };
          const timer = setTimeout(done, 10_000);
          timer.unref();
          smAnswered = done;
        })
      : Promise.resolve();
  let ready: Promise<void> = Promise.resolve();
  entity.on('online', (address) => {
    fullJid = address.toString();
    ready = smSettled().then(() => {
      events.emit('online', fullJid);
    });
  });
  entity.on('offline', () => events.emit('offline'));
  // @xmpp/stream-management 0.14 is an EventEmitter at run time; its published types omit that.
  (entity.streamManagement as unknown as EventEmitter).on('resumed', () => events.emit('resumed'));
  if (options.reconnect === false) entity.reconnect.stop();

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    entity.reconnect.stop();
    if (entity.status === 'offline') return;
    try {
      await entity.stop();
    } catch (err) {
      logger.debug({ error: describe(err) }, 'xmpp stop: stream already gone');
    }
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const address = await Promise.race([
      entity.start(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new AppError(ErrorCode.Timeout, `XMPP connect to ${options.service} timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    fullJid = address.toString();
    await ready;
  } catch (err) {
    await stop();
    throw startError(err, who);
  } finally {
    clearTimeout(timer);
  }
  logger.debug({ jid: fullJid }, 'xmpp online');

  const iqCaller = entity.iqCaller as unknown as IqCallerLike;
  const iqCallee = entity.iqCallee as unknown as IqCalleeLike;
  const register = (type: 'get' | 'set', ns: string, name: string, handler: IqHandler): (() => void) => {
    const live = { on: true };
    iqCallee[type](ns, name, async (ctx: { stanza: Element; element?: Element }): Promise<Element | true | undefined> => {
      if (!live.on || !isElement(ctx.element)) return undefined;
      const from = typeof ctx.stanza.attrs.from === 'string' ? ctx.stanza.attrs.from : options.domain;
      return handler({ stanza: ctx.stanza, element: ctx.element, from });
    });
    return () => void (live.on = false);
  };

  return {
    get jid() {
      return fullJid;
    },
    bareJid: bare,
    get status() {
      return entity.status;
    },
    send: (stanza) => entity.send(stanza),
    async sendReceive(iq, timeoutMs) {
      try {
        return await iqCaller.request(iq, timeoutMs);
      } catch (err) {
        const el = (err as { element?: unknown }).element;
        if (err instanceof Error && err.name === 'StanzaError' && isElement(el)) throw StanzaError.fromElement(el);
        if (err instanceof Error && err.name === 'TimeoutError')
          throw new AppError(ErrorCode.Timeout, 'no reply to IQ in time', { cause: err });
        throw err;
      }
    },
    iqCallee: {
      get: (ns, name, handler) => register('get', ns, name, handler),
      set: (ns, name, handler) => register('set', ns, name, handler),
    },
    on(event, listener) {
      events.on(event, listener as (...args: unknown[]) => void);
      return () => events.off(event, listener as (...args: unknown[]) => void);
    },
    stop,
  };
}
