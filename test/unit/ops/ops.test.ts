import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { startOpsServer, type OpsServer } from '../../../src/ops/index.js';

describe('operations endpoint', () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('answers 200 on /healthz when every check passes and 503 naming the one that fails', async () => {
    let redisUp = true;
    server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silentLogger(),
      checks: { xmpp: () => Promise.resolve(true), redis: () => Promise.resolve(redisUp) },
    });
    const up = await fetch(`${server.url}/healthz`);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ ok: true, checks: { xmpp: true, redis: true } });
    redisUp = false;
    const down = await fetch(`${server.url}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ ok: false, checks: { xmpp: true, redis: false } });
  });

  it('treats a check that throws as failed, not as a crash', async () => {
    server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silentLogger(),
      checks: { disk: () => Promise.reject(new Error('EACCES')) },
    });
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
  });

  it('serves Prometheus text on /metrics with the counters it was given', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.submissions.inc({ result: 'accepted' }, 3);
    server = await startOpsServer({ host: '127.0.0.1', port: 0, metrics, logger: silentLogger(), checks: {} });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('sealpost_submissions_total{result="accepted"} 3');
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silentLogger(),
      checks: {},
    });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
