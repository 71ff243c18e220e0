// IQ forwarding while a shard has no owner (issue 15): a new deployment's first shards and a
// takeover leave a shard ownerless for seconds. An IQ that nobody received is asked again until an
// owner answers, within a bound; past it the client gets service-unavailable with a text. Other
// failures (an owner that does not answer in time) are not asked again: the owner may have acted.
import { describe, expect, it } from 'vitest';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { registerForwarding } from '../../../src/ingest/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { NS } from '../../../src/protocol/index.js';
import { xml, type Element, type IqHandler, type XmppConnection } from '../../../src/xmpp/index.js';

/** A connection that only records the IQ handlers registered on it. */
function fakeConn() {
  const handlers = new Map<string, IqHandler>();
  const add = (type: string) => (ns: string, name: string, h: IqHandler) => {
    handlers.set(`${type} ${ns} ${name}`, h);
    return () => undefined;
  };
  const conn = { iqCallee: { get: add('get'), set: add('set') }, send: () => Promise.resolve() } as unknown as XmppConnection;
  return { conn, handlers };
}

/** A bus whose shard has no owner for the first `down` requests, then answers `count` (or fails with `then`). */
function bus(down: number, then?: AppError) {
  let calls = 0;
  return {
    calls: () => calls,
    request(shard: number) {
      calls++;
      if (calls <= down) return Promise.reject(new AppError(ErrorCode.Unavailable, `shard ${shard} has no owner right now`));
      if (then !== undefined) return Promise.reject(then);
      return Promise.resolve({ out: [], result: xml('count', { xmlns: NS.keys, n: '7' }).toString() });
    },
  };
}

async function askCount(deps: { bus: ReturnType<typeof bus>; ownerWaitMs?: number }): Promise<Element | true | undefined> {
  const { conn, handlers } = fakeConn();
  registerForwarding({ conn, bus: deps.bus, shardOf: () => 3, logger: silentLogger(), ownerRetryMs: 10, ...(deps.ownerWaitMs === undefined ? {} : { ownerWaitMs: deps.ownerWaitMs }) });
  const handler = handlers.get(`get ${NS.keys} count`);
  if (handler === undefined) throw new Error('count IQ not forwarded');
  const element = xml('count', { xmlns: NS.keys });
  const stanza = xml('iq', { type: 'get', id: 'c1', from: 'alice@example.org/d1' }, element);
  return handler({ stanza, element, from: 'alice@example.org/d1' });
}

const condition = (r: Element | true | undefined): string | undefined => {
  const error = r === true || r === undefined || !r.is('error') ? undefined : r; // the handler's answer is the <error/> to send
  return error?.children.find((c): c is Element => typeof c !== 'string' && c.name !== 'text')?.name;
};

describe('IQ forwarding while a shard has no owner', () => {
  it('asks again until the shard has an owner and gives the owner answer', async () => {
    const b = bus(5);
    const answer = await askCount({ bus: b });
    expect(answer === true ? undefined : answer?.attrs.n).toBe('7');
    expect(b.calls()).toBe(6);
  });

  it('answers service-unavailable once the wait is over', async () => {
    const b = bus(Number.POSITIVE_INFINITY);
    const t = Date.now();
    const answer = await askCount({ bus: b, ownerWaitMs: 200 });
    expect(condition(answer)).toBe('service-unavailable');
    expect(Date.now() - t).toBeLessThan(2_000);
    expect(b.calls()).toBeGreaterThan(3);
  });

  it('does not ask again after an owner received the request', async () => {
    const b = bus(0, new AppError(ErrorCode.Timeout, 'shard 3: no answer from its owner in 10 ms'));
    const answer = await askCount({ bus: b });
    expect(condition(answer)).toBe('remote-server-timeout');
    expect(b.calls()).toBe(1);
  });
});
