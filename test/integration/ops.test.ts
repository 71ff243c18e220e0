// The operations endpoint of a running service: health of each dependency, Prometheus metrics
// with queue depths, and the BullMQ dashboard only with the operator's token.
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/localdev/index.js';
import { startAgent, startTestService } from './service-fixture.js';

const TOKEN = 'ops-token-for-the-test-0123456789';

describe('operations endpoint', () => {
  it('reports health and metrics, and serves the queue dashboard only with the token', async () => {
    const ts = await startTestService({ SEALPOST_OPS_TOKEN: TOKEN, SEALPOST_HTTP_PORT: String(await freePort()) }, { ops: true });
    const url = ts.service.ops?.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await alice.agent.send(bob.account.jid, 'ping');

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, checks: { xmpp: true, redis: true, archive: true } });

    expect((await fetch(`${url}/metrics`)).status).toBe(401); // the token guards metrics too
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toMatch(/sealpost_submissions_total\{result="accepted"\} 1/);
    expect(metrics).toMatch(/sealpost_stores_total\{result="stored"\} 1/);
    expect(metrics).toMatch(/sealpost_queue_jobs\{queue="store",state="failed"\} 0/);
    expect(metrics).toMatch(/sealpost_prekey_claims_total\{result="one-time"\} 1/);

    expect((await fetch(`${url}/queues`)).status).toBe(401);
    expect((await fetch(`${url}/queues`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    const page = await fetch(`${url}/queues`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const basic = Buffer.from(`operator:${TOKEN}`).toString('base64');
    const api = await fetch(`${url}/queues/api/queues`, { headers: { authorization: `Basic ${basic}` } });
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    // BullMQ's names: each queue inside a hash tag, a shard's in the shard's (Redis Cluster, issue 15)
    const shards = Array.from({ length: 64 }, (_, k) => [`{s${k}}-deliver`, `{s${k}}-store`]).flat();
    expect(names).toEqual(['{retention}', ...shards].sort());
  });

  it('reports an unhealthy dependency with 503', async () => {
    const ts = await startTestService({ SEALPOST_HTTP_PORT: String(await freePort()) }, { ops: true });
    const url = ts.service.ops?.url;
    await ts.service.conn.stop(); // the XMPP connection is gone
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { checks: Record<string, boolean> }).checks.xmpp).toBe(false);
    // Without a token configured there is no dashboard at all, and /metrics is open (loopback).
    expect((await fetch(`${url}/queues`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });
});
