// Attack 11 of issue 14 (operations): whoever reaches the operations endpoint (the compose file
// publishes it on the container network) read every metric without a token, and an operator token
// that leaked through a browser or a proxy log let its holder retry, clean or remove queue jobs
// (jobs hold other people's messages). /metrics now needs the token when one is set, and the
// dashboard is read-only unless SEALPOST_DASHBOARD_WRITABLE says otherwise.
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/localdev/index.js';
import { startTestService } from '../integration/service-fixture.js';
import { honestExchange, watchVaultStream } from './attacker.js';

const TOKEN = 'ops-token-of-the-operator-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

describe('attack: the operations endpoint', () => {
  it('refuses /metrics without the token and every job change through the dashboard by default', async () => {
    const ts = await startTestService({ SEALPOST_OPS_TOKEN: TOKEN, SEALPOST_HTTP_PORT: String(await freePort()) }, { ops: true });
    const stream = watchVaultStream(ts);
    const url = ts.service.ops?.url ?? '';
    await honestExchange(ts, 'before the attack');

    expect((await fetch(`${url}/metrics`)).status, '/metrics answered without the token').toBe(401);
    const wrong = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer not-the-token-not-the-token' } });
    expect(wrong.status).toBe(401);

    // With the token (leaked): each change bull-board offers, on a store queue and the delivery queue.
    const store = encodeURIComponent('{s0}-store');
    const deliver = encodeURIComponent('{s0}-deliver');
    const changes: [string, string][] = [
      ['PUT', `${store}/retry/failed`],
      ['PUT', `${store}/clean/completed`],
      ['PUT', `${deliver}/clean/failed`],
      ['PUT', `${deliver}/some-job/clean`],
      ['PUT', `${store}/some-job/retry`],
      ['PUT', `${store}/pause`],
      ['DELETE', `${store}/empty`],
      ['POST', `${store}/add`],
    ];
    for (const [method, path] of changes) {
      const res = await fetch(`${url}/queues/api/queues/${path}`, { method, headers: { ...auth, 'content-type': 'application/json' }, body: '{}' });
      expect(res.status, `${method} ${path} through the dashboard`).toBe(405);
    }
    expect(await ts.service.queues.deliver.shards[0]?.isPaused()).toBe(false);

    // The operator still reads: metrics and the dashboard with the token.
    const metrics = await fetch(`${url}/metrics`, { headers: auth });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/sealpost_stores_total\{result="stored"\} 1/);
    const queues = await fetch(`${url}/queues/api/queues`, { headers: auth });
    expect(queues.status).toBe(200);
    await honestExchange(ts, 'after the attack');
    stream.assertUp();
  });

  it('lets the dashboard change jobs only when configured writable', async () => {
    const ts = await startTestService(
      { SEALPOST_OPS_TOKEN: TOKEN, SEALPOST_DASHBOARD_WRITABLE: 'true', SEALPOST_HTTP_PORT: String(await freePort()) },
      { ops: true },
    );
    const url = ts.service.ops?.url ?? '';
    const res = await fetch(`${url}/queues/api/queues/${encodeURIComponent('{s0}-store')}/clean/completed`, { method: 'PUT', headers: auth });
    expect(res.status).toBe(200);
  });
});
