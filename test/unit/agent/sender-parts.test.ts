// The sender's parts on their own: the resend backoff (a message goes again `afterMs` after it
// went out, then after 2x, 4x, up to 8x; a reconnect sends all), the bundle cache (one fetch for concurrent sends, a
// claimed one-time prekey used by one message only, cached bundles kept when claims are
// rate-limited), and the agent's stanza middleware chain (in order; a handler that takes a stanza
// stops it; a throwing one does not end the stream's listener).
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BundleCache } from '../../../src/agent/bundle-cache.js';
import type { FetchedBundle } from '../../../src/agent/directory-client.js';
import type { OutboxEntry } from '../../../src/agent/outbox.js';
import { ResendPolicy } from '../../../src/agent/resend-policy.js';
import { stanzaChain } from '../../../src/agent/stanza-chain.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { xml, type Element } from '../../../src/xmpp/index.js';

const entry = (id: string, createdAt: number): OutboxEntry => ({ messageId: id, recipient: 'bob@example.org', stanza: '<message/>', createdAt });

describe('resend policy', () => {
  it('resends afterMs after the first send, then after 2x, 4x, and 8x at most', () => {
    const p = new ResendPolicy(1000);
    const e = [entry('m1', 0)];
    const sentAt: number[] = [];
    for (let t = 0; t <= 40_000; t += 100) if (p.due(e, 1000, t).length > 0) sentAt.push(t);
    expect(sentAt).toEqual([1000, 2000, 4000, 8000, 16_000, 24_000, 32_000, 40_000]);
  });

  it('sends everything on a reconnect, and nothing more for a settled message', () => {
    const p = new ResendPolicy(1000);
    const e = [entry('m1', 0), entry('m2', 900)];
    expect(p.due(e, 1000, 1000).map((x) => x.messageId)).toEqual(['m1']);
    expect(p.due(e, 0, 1001).map((x) => x.messageId)).toEqual(['m1', 'm2']);
    p.forget('m1');
    expect(p.due(e, 1000, 1500).map((x) => x.messageId)).toEqual(['m1']); // forgotten: due by its age; m2 waits its gap
  });

  it('on resource-constraint waits twice as long after each refusal and gives up past quotaRetries; a rate limit does not count', () => {
    const p = new ResendPolicy(1000, 2);
    const e = [entry('m1', 0)];
    expect(p.waited('m1', 'policy-violation', 0)).toBe('resend');
    expect(p.waited('m1', 'resource-constraint', 0)).toBe('resend');
    expect(p.due(e, 1000, 1999)).toEqual([]);
    expect(p.due(e, 1000, 2000)).toHaveLength(1); // 2x after the first refusal
    expect(p.waited('m1', 'resource-constraint', 2000)).toBe('resend');
    expect(p.due(e, 1000, 5999)).toEqual([]);
    expect(p.due(e, 1000, 6000)).toHaveLength(1); // 4x after the second
    expect(p.waited('m1', 'resource-constraint', 6000)).toBe('give-up');
    p.forget('m1');
    expect(p.waited('m1', 'resource-constraint', 7000)).toBe('resend'); // a settled id starts afresh
  });
});

const bundle = (opks: number): FetchedBundle =>
  ({ bundle: { jid: 'bob@example.org', device: 1, oneTimePrekeys: Array.from({ length: opks }, (_, i) => ({ id: i + 1 })) }, firstSeen: 0, trust: 'tofu' }) as unknown as FetchedBundle;

describe('bundle cache', () => {
  it('fetches once for concurrent sends and hands a claimed one-time prekey to one message', async () => {
    let fetches = 0;
    let now = 0;
    const cache = new BundleCache({ directory: { fetch: () => Promise.resolve([bundle(1)]).finally(() => fetches++) }, ttlMs: 1000, now: () => now });
    const [a, b] = await Promise.all([cache.get('bob@example.org'), cache.get('bob@example.org')]);
    expect(fetches).toBe(1);
    expect(cache.forOneMessage('bob@example.org', a)[0]?.oneTimePrekeys).toHaveLength(1);
    expect(cache.forOneMessage('bob@example.org', b)[0]?.oneTimePrekeys).toHaveLength(0);
    now = 999;
    await cache.get('bob@example.org');
    expect(fetches).toBe(1);
    now = 1000;
    await cache.get('bob@example.org');
    expect(fetches).toBe(2);
  });

  it('keeps the cached bundles when a claim is rate-limited, and fails without them', async () => {
    let now = 0;
    let refuse = false;
    const directory = { fetch: () => (refuse ? Promise.reject(new AppError(ErrorCode.Policy, 'slow down')) : Promise.resolve([bundle(0)])) };
    const cache = new BundleCache({ directory, ttlMs: 10, now: () => now });
    await expect(cache.get('bob@example.org')).resolves.toHaveLength(1);
    refuse = true;
    now = 100;
    await expect(cache.get('bob@example.org')).resolves.toHaveLength(1);
    await expect(cache.get('carol@example.org')).rejects.toThrow('slow down');
  });
});

describe('stanza chain', () => {
  it('runs the middleware in order until one takes the stanza; a throw is contained', () => {
    const conn = new EventEmitter();
    const on = (event: 'stanza', fn: (s: Element) => void): (() => void) => {
      conn.on(event, fn);
      return () => conn.off(event, fn);
    };
    const chain = stanzaChain({ on } as never, silentLogger());
    const seen: string[] = [];
    chain.use((st, next) => {
      seen.push(`a:${st.name}`);
      if (st.name !== 'iq') next();
    });
    chain.use((st, next) => {
      seen.push(`b:${st.name}`);
      if (st.name === 'presence') throw new Error('boom');
      next();
    });
    chain.use((st) => void seen.push(`c:${st.name}`));
    conn.emit('stanza', xml('iq'));
    conn.emit('stanza', xml('presence'));
    conn.emit('stanza', xml('message'));
    expect(seen).toEqual(['a:iq', 'a:presence', 'b:presence', 'a:message', 'b:message', 'c:message']);
    chain.close();
    conn.emit('stanza', xml('message'));
    expect(seen).toHaveLength(6);
  });
});
