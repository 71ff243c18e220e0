// Requests to a shard's owner and their replies over Redis pub/sub (issue 15, design.md "Ingest
// forwards per-user IQs to the owner"): a request is published on its shard's channel, the owner
// answers on the requester's reply channel. Nobody listening (no owner, e.g. during a takeover)
// fails at once; an owner that does not answer in time fails with Timeout: the XMPP client sees a
// wait-type error and asks again. Every message carries a keyed BLAKE2b MAC (a key all nodes
// derive from the master key), so someone who can only publish to Redis cannot ask as a user.
import { randomBytes } from 'node:crypto';
import { AppError, ErrorCode } from '../errors/index.js';
import { blake2b, constantTimeEqual } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { createRedis, type Redis } from './bullmq.js';

/**
 * A handler's answer when this process must not answer (it no longer holds the shard: woken from a
 * pause past its lease, it still hears the shard's channel until its owner loop notices). Nothing is
 * replied, so the requester takes the current owner's answer, not this process's refusal.
 */
export const DECLINED: unique symbol = Symbol('declined');

export interface RequestBus {
  /** Sends `payload` to the owner of `shard`; resolves with its reply. */
  request(shard: number, payload: unknown, timeoutMs?: number): Promise<unknown>;
  /** Answers `shard`'s requests with `handler` until the returned stop() is called. */
  serve(shard: number, handler: (payload: unknown) => Promise<unknown>): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface RequestBusOptions {
  /** Publishes requests and replies (a producer connection). */
  publisher: Redis;
  /** A dedicated connection; the bus puts it in subscriber mode and closes it. */
  subscriber: Redis;
  prefix: string;
  /** This process's name on the bus (its reply channel). */
  node: string;
  /** 32-byte MAC key, the same on every node. */
  macKey: Uint8Array;
  logger: Logger;
  defaultTimeoutMs?: number;
  /**
   * PUBLISH counts every subscriber (one Redis server): a request nobody hears fails at once.
   * Set false on Redis Cluster, where the count covers only the node published to.
   */
  exactReceivers?: boolean;
}

interface Envelope {
  id: string;
  /** Reply channel of the requester (requests only). */
  reply?: string;
  body: unknown;
  /** Error text from the owner (replies only). */
  error?: string;
}

export function requestChannel(prefix: string, shard: number): string {
  return `${prefix}:{s${shard}}:requests`;
}

export function createRequestBus(o: RequestBusOptions): RequestBus {
  if (o.macKey.length !== 32) throw new RangeError(`macKey: expected 32 bytes, got ${o.macKey.length}`);
  const log = o.logger.child({ module: 'request-bus' });
  const replyChannel = `${o.prefix}:replies:${o.node}`;
  const pending = new Map<string, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  const served = new Map<string, (payload: unknown) => Promise<unknown>>();
  const enc = new TextEncoder();

  const seal = (e: Envelope): string => {
    const text = JSON.stringify(e);
    return `${Buffer.from(blake2b(32, enc.encode(text), o.macKey)).toString('base64')} ${text}`;
  };
  const open = (raw: string): Envelope | undefined => {
    const space = raw.indexOf(' ');
    const text = raw.slice(space + 1);
    const mac = Buffer.from(raw.slice(0, Math.max(space, 0)), 'base64');
    if (mac.length !== 32 || !constantTimeEqual(mac, blake2b(32, enc.encode(text), o.macKey))) return undefined;
    return JSON.parse(text) as Envelope;
  };

  const onRequest = (channel: string, e: Envelope): void => {
    const handler = served.get(channel);
    if (handler === undefined || typeof e.reply !== 'string') return;
    const reply = e.reply;
    handler(e.body)
      .then((body) => (body === DECLINED ? undefined : { id: e.id, body }), (err: unknown) => ({ id: e.id, body: null, error: (err as Error).message.slice(0, 300) }))
      .then((answer: Envelope | undefined) => (answer === undefined ? undefined : o.publisher.publish(reply, seal(answer))))
      .catch((err: unknown) => log.warn({ error: (err as Error).message }, 'reply not published'));
  };

  o.subscriber.on('message', (channel: string, raw: string) => {
    const e = open(raw);
    if (e === undefined) {
      log.warn({ channel }, 'message with a bad MAC dropped');
      return;
    }
    if (channel !== replyChannel) return onRequest(channel, e);
    const p = pending.get(e.id);
    if (p === undefined) return; // late, or a second owner's answer
    pending.delete(e.id);
    clearTimeout(p.timer);
    if (e.error !== undefined) p.reject(new AppError(ErrorCode.Unavailable, `owner failed: ${e.error}`));
    else p.resolve(e.body);
  });
  const ready = o.subscriber.subscribe(replyChannel);

  return {
    async request(shard, payload, timeoutMs = o.defaultTimeoutMs ?? 10_000) {
      await ready;
      const id = randomBytes(12).toString('base64url');
      const answer = new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new AppError(ErrorCode.Timeout, `shard ${shard}: no answer from its owner in ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
      });
      const receivers = await o.publisher.publish(requestChannel(o.prefix, shard), seal({ id, reply: replyChannel, body: payload })).catch((err: unknown) => {
        const p = pending.get(id);
        pending.delete(id);
        if (p !== undefined) clearTimeout(p.timer);
        throw new AppError(ErrorCode.Unavailable, `request not published: ${(err as Error).message}`);
      });
      if (receivers === 0 && o.exactReceivers !== false) {
        const p = pending.get(id);
        pending.delete(id);
        if (p !== undefined) clearTimeout(p.timer);
        void answer.catch(() => undefined);
        throw new AppError(ErrorCode.Unavailable, `shard ${shard} has no owner right now`);
      }
      return answer;
    },
    async serve(shard, handler) {
      const channel = requestChannel(o.prefix, shard);
      served.set(channel, handler);
      await o.subscriber.subscribe(channel);
      return async () => {
        served.delete(channel);
        await o.subscriber.unsubscribe(channel).catch(() => undefined);
      };
    },
    async close() {
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        p.reject(new AppError(ErrorCode.Unavailable, 'request bus closed'));
        pending.delete(id);
      }
      served.clear();
      await o.subscriber.quit().catch(() => undefined);
    },
  };
}

/** A bus on its own subscriber connection (closed with the bus); requests go out on `publisher`. */
export function openRequestBus(o: Omit<RequestBusOptions, 'subscriber' | 'exactReceivers'> & { url: string; cluster: boolean }): RequestBus {
  const subscriber = createRedis(o.url, 'worker', { connectionName: 'sealpost:bus', cluster: o.cluster });
  subscriber.on('error', (err: Error) => o.logger.warn({ error: err.message }, 'request bus connection error'));
  const { url: _url, cluster, ...rest } = o;
  // On a cluster PUBLISH counts only the receivers of the node it went to.
  return createRequestBus({ ...rest, subscriber, exactReceivers: !cluster });
}
