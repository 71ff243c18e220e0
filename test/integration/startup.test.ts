// Start-up that fails half-way leaves nothing open (issue 13): each start step is made to fail in
// turn — a wrong master key, Redis on a closed port, XMPP on a closed port, XMPP login refused,
// a retention schedule Redis refuses, the ops port taken — and startService must reject with an
// error that names the cause, and close every socket, timer and SQLite handle the earlier steps
// opened. Counted with the process's active resources and the SQLite layer's open handles, before
// the start and after the rejection; a full start and stop() must return to the same counts.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/index.js';
import { startService } from '../../src/main.js';
import { openDatabaseCount } from '../../src/sqlite/index.js';
import { testServiceEnv } from './service-fixture.js';

/**
 * Handle kinds that a leak would show: sockets, servers, timers, pending fs requests. Pipes are
 * left out: the test runner's own (IPC, stdout opened on first write) come and go, and the
 * service opens none. A running service here holds about 13 sockets, 2 servers, 30 timers and 2
 * SQLite handles.
 */
const KINDS = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP', 'Timeout', 'Immediate', 'FSReqCallback', 'FSReqPromise', 'UDPWrap']);

type Counts = Record<string, number>;

function counts(): Counts {
  const out: Counts = { sqlite: openDatabaseCount() };
  for (const kind of process.getActiveResourcesInfo()) if (KINDS.has(kind)) out[kind] = (out[kind] ?? 0) + 1;
  return out;
}

/** What `now` holds beyond `before`, kind by kind: the handles a step left open. A handle of
 *  `before` that ended meanwhile (a timer of an earlier test) is no leak. */
function leaked(before: Counts, now: Counts): Counts {
  const out: Counts = {};
  for (const [kind, n] of Object.entries(now)) if (n > (before[kind] ?? 0)) out[kind] = n - (before[kind] ?? 0);
  return out;
}

/** Waits (up to 5 s: closing sockets take a few ticks) until nothing is open beyond `before`;
 *  returns what is still open beyond it ({} when nothing). */
async function settledTo(before: Counts): Promise<Counts> {
  let extra = leaked(before, counts());
  for (const deadline = Date.now() + 5000; Date.now() < deadline && Object.keys(extra).length > 0; extra = leaked(before, counts()))
    await new Promise((resolve) => setTimeout(resolve, 50));
  return extra;
}

/** The counts once nothing has changed for 500 ms (sockets of earlier steps finish closing). */
async function steady(): Promise<Counts> {
  let last = JSON.stringify(counts());
  let since = Date.now();
  for (const deadline = Date.now() + 10_000; Date.now() < deadline && Date.now() - since < 500; ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = JSON.stringify(counts());
    if (now !== last) [last, since] = [now, Date.now()];
  }
  return JSON.parse(last) as Counts;
}

/** A TCP port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function heldPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, port: (server.address() as { port: number }).port };
}

/** Starts the service with `env` (over a fresh test environment) and expects the start to fail. */
async function failedStart(env: Record<string, string>, ops: boolean): Promise<{ error: Error; leaked: Counts }> {
  const se = await testServiceEnv();
  const config = loadConfig({ ...se.env, ...env });
  const before = await steady(); // the account registration's socket is gone
  const error = await startService(config, { ops, logger: silentLogger() }).then(
    async (service) => {
      await service.stop();
      throw new Error('startService resolved; expected a failure');
    },
    (err: unknown) => err as Error,
  );
  return { error, leaked: await settledTo(before) };
}

describe('a start step that fails closes what the earlier steps opened', () => {
  it('stores: a wrong master key for existing archives', async () => {
    const se = await testServiceEnv();
    const first = await startService(loadConfig(se.env), { ops: false, logger: silentLogger() });
    await first.stop();
    const before = await steady();
    const wrongKey = { ...se.env, SEALPOST_MASTER_KEY: randomBytes(32).toString('base64') };
    const error = await startService(loadConfig(wrongKey), { ops: false, logger: silentLogger() }).catch((err: unknown) => err as Error);
    expect(error).toMatchObject({ code: 'wrong-key' });
    expect(await settledTo(before)).toEqual({});
  });

  it('Redis: nothing listening on its port', async () => {
    const port = await closedPort();
    const r = await failedStart({ REDIS_URL: `redis://127.0.0.1:${port}` }, false);
    expect(r.error.message).toMatch(/Redis not ready within/);
    expect(r.leaked).toEqual({});
  });

  it('XMPP: connection refused', async () => {
    const port = await closedPort();
    const r = await failedStart({ SEALPOST_XMPP_SERVICE: `xmpp://127.0.0.1:${port}` }, false);
    expect(r.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/XMPP connect failed for .*ECONNREFUSED/) as unknown });
    expect(r.leaked).toEqual({});
  });

  it('XMPP: login refused', async () => {
    const r = await failedStart({ SEALPOST_VAULT_PASSWORD: 'not-the-password' }, false);
    expect(r.error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/XMPP login refused/) as unknown });
    expect(r.leaked).toEqual({});
  });

  it('retention: a schedule Redis refuses', async () => {
    const r = await failedStart({ SEALPOST_RETENTION_CRON: '99 99 * * *' }, false);
    expect(r.error.message).toMatch(/cannot schedule the retention sweep \(99 99 \* \* \*\)/);
    expect(r.leaked).toEqual({});
  });

  it('ops: the port is taken', async () => {
    const { port } = await heldPort();
    const r = await failedStart({ SEALPOST_HTTP_PORT: String(port) }, true);
    expect(r.error.message).toMatch(/EADDRINUSE/);
    expect(r.leaked).toEqual({});
  });

  it('a full start with every surface, then stop(), returns to the same counts', async () => {
    const se = await testServiceEnv();
    const config = loadConfig({ ...se.env, SEALPOST_HTTP_PORT: String(await closedPort()) });
    const before = await steady();
    const service = await startService(config, { ops: true, logger: silentLogger() });
    expect(openDatabaseCount()).toBeGreaterThan(before.sqlite ?? 0); // the stores were open
    expect(service.ops?.url).toMatch(/^http:/);
    await service.stop();
    expect(await settledTo(before)).toEqual({});
  });
});
