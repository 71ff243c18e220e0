// Helpers for the fault tests (issue 9, "Fault tests"): service roles run as child processes
// (`bin/sealpost.js ingest|worker`, configured by SEALPOST_* variables) that a test SIGKILLs and
// starts again, a seeded random source whose seed is printed, a TCP proxy that can hold a client's
// Redis commands (so a process can die with work received but not yet queued), a service and
// agents on a private Prosody that a test may crash, and polling.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, inject, onTestFinished } from 'vitest';
import type { ArchiveStore } from '../../src/archive/index.js';
import { createAgent, type Agent, type AgentOptions } from '../../src/agent/index.js';
import { loadConfig, SETTINGS, type Config, type SettingName } from '../../src/config/index.js';
import { startProsody, type ProsodyHandle } from '../../src/localdev/index.js';
import { createLogger } from '../../src/log/index.js';
import { startService, type Service, type StartOptions } from '../../src/main.js';
import { createRedis } from '../../src/workers/index.js';
import './helpers.js'; // the ProvidedContext declaration behind inject('localServices')

const BIN = fileURLToPath(new URL('../../bin/sealpost.js', import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The SEALPOST_* environment that makes a child process load `config` again. */
export function envOf(config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, { env: string }][]) {
    const value: unknown = config[name];
    if (Array.isArray(value)) env[setting.env] = value.join(',');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') env[setting.env] = String(value);
  }
  return env;
}

/** Polls `check` until it returns true; rejects with `describe()` after `timeoutMs`. */
export async function waitUntil(label: string, check: () => boolean | Promise<boolean>, timeoutMs: number, describe?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${label}: not reached within ${timeoutMs} ms${describe ? ` (${describe()})` : ''}`);
    await sleep(25);
  }
}

/** mulberry32: a small seeded generator, so a failing schedule can be replayed (SEALPOST_FAULT_SEED). */
export function seededRandom(label: string): { seed: number; next(): number; between(lo: number, hi: number): number } {
  const fromEnv = Number(process.env.SEALPOST_FAULT_SEED);
  const seed = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
  process.stderr.write(`[${label}] seed ${seed} (SEALPOST_FAULT_SEED=${seed} replays the schedule)\n`);
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next, between: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) };
}

export interface RoleProcess {
  readonly pid: number | undefined;
  /** How many times a process was started. */
  readonly starts: number;
  /** Spawns the role and resolves once it logged that it runs (online and taking work). */
  start(): Promise<void>;
  /** SIGKILL (a crash) by default; resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** The log file every start appends to (pino JSON lines, then stderr). */
  readonly logFile: string;
}

/** `sealpost <role>` as a child process with exactly `env` (plus PATH/HOME), logging to `dir`. */
export function roleProcess(role: 'ingest' | 'worker' | 'serve', env: Record<string, string>, dir: string): RoleProcess {
  const logFile = join(dir, `${role}-process.log`);
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let starts = 0;

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const c = child;
    if (c === undefined) return;
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    await exited;
    if (child === c) child = undefined;
  };
  onTestFinished(async () => {
    await kill('SIGKILL');
    await new Promise<void>((resolve) => log.end(resolve));
  });

  return {
    get pid() {
      return child?.pid;
    },
    get starts() {
      return starts;
    },
    logFile,
    kill,
    async start() {
      if (child !== undefined) throw new Error(`${role} process already running`);
      starts++;
      const c = spawn(process.execPath, [BIN, role], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', SEALPOST_LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      let tail = '';
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${role} process not running after 30 s:\n${tail.slice(-2000)}`)), 30_000);
        const onData = (chunk: Buffer): void => {
          log.write(chunk);
          tail = (tail + chunk.toString('utf8')).slice(-8000);
          if (tail.includes('"sealpost service running"')) {
            clearTimeout(timer);
            resolve();
          }
        };
        c.stdout.on('data', onData);
        c.stderr.on('data', onData);
        c.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${role} process exited (${code ?? signal}) before it ran:\n${tail.slice(-2000)}`));
        });
      });
      await ready;
    },
  };
}

export interface HoldingProxy {
  /** redis:// URL of the proxy. */
  readonly url: string;
  /** From now on, client → server bytes are kept back (server → client still flows). */
  hold(): void;
  /** Sends what was kept back and lets traffic flow again. */
  release(): void;
  /** Closes every connection, discarding what was kept back (its client died), and stops holding. */
  dropAll(): void;
  /** Bytes kept back since the last hold(), over all connections (those of dead clients count too). */
  readonly heldBytes: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of Redis. While held, a client's commands reach the proxy but not Redis; a
 * client killed meanwhile loses them with its sockets, exactly as if it died just before sending.
 */
export async function holdingProxy(upstreamUrl: string): Promise<HoldingProxy> {
  const up = new URL(upstreamUrl);
  let holding = false;
  let heldBytes = 0;
  const pipes = new Set<{ client: Socket; server: Socket; kept: Buffer[] }>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: up.hostname, port: Number(up.port || 6379) });
    const pipe = { client, server: upstream, kept: [] as Buffer[] };
    pipes.add(pipe);
    const end = (): void => {
      pipes.delete(pipe);
      pipe.kept = [];
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (holding) {
        heldBytes += chunk.length;
        pipe.kept.push(chunk);
      } else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const proxy: HoldingProxy = {
    url: `redis://127.0.0.1:${port}`,
    hold() {
      holding = true;
      heldBytes = 0;
    },
    release() {
      holding = false;
      for (const p of pipes) {
        for (const chunk of p.kept) p.server.write(chunk);
        p.kept = [];
      }
    },
    dropAll() {
      for (const p of pipes) {
        p.kept = [];
        p.client.destroy();
        p.server.destroy();
      }
      pipes.clear();
      holding = false;
    },
    get heldBytes() {
      return heldBytes;
    },
    async close() {
      for (const p of pipes) {
        p.client.destroy();
        p.server.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  onTestFinished(() => proxy.close());
  return proxy;
}

/** A service and agents on a Prosody of their own, which a test may crash without disturbing others. */
export interface PrivateWorld {
  prosody: ProsodyHandle;
  service: Service;
  config: Config;
  vault: string;
  dataDir: string;
  /** A new account on the private Prosody with the real SDK (its own temp dir). */
  agent(prefix: string, overrides?: Partial<AgentOptions>): Promise<{ agent: Agent; jid: string; reopen(more?: Partial<AgentOptions>): Promise<Agent> }>;
}

/** Makes new accounts (`<prefix>-<8 hex>`, random password) on a private Prosody. */
export function accountMaker(prosody: ProsodyHandle): (prefix: string) => Promise<{ username: string; password: string; jid: string }> {
  return async (prefix) => {
    const username = `${prefix}-${randomUUID().slice(0, 8)}`;
    const password = randomUUID();
    await prosody.createAccount(username, password);
    return { username, password, jid: `${username}@${prosody.domain}` };
  };
}

export async function privateWorld(env: Record<string, string> = {}, options: StartOptions = {}): Promise<PrivateWorld> {
  const prosody = await startProsody({ smacksHibernationSeconds: 10 });
  onTestFinished(() => prosody.stop());
  const account = accountMaker(prosody);
  const vault = await account('vault');
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-private-'));
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const redisUrl = inject('localServices').redisUrl;
  onTestFinished(async () => {
    const redis = createRedis(redisUrl, 'worker');
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    if (process.env.SEALPOST_TEST_KEEP === undefined) rmSync(dataDir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dataDir}\n`);
  });
  const config = loadConfig({
    SEALPOST_XMPP_SERVICE: prosody.service,
    SEALPOST_XMPP_DOMAIN: prosody.domain,
    SEALPOST_VAULT_USER: vault.username,
    SEALPOST_VAULT_PASSWORD: vault.password,
    SEALPOST_VAULT_RESOURCE: 'vault',
    REDIS_URL: redisUrl,
    SEALPOST_QUEUE_PREFIX: prefix,
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_MASTER_KEY: randomBytes(32).toString('base64'),
    SEALPOST_HTTP_PORT: '0',
    SEALPOST_ALLOWED_DOMAINS: prosody.domain,
    ...env,
  });
  const stream = createWriteStream(join(dataDir, 'service.log'), { flags: 'a' });
  const service = await startService(config, { ops: false, logger: createLogger({ level: 'debug', destination: stream }), ...options });
  onTestFinished(async () => {
    await service.stop();
    await new Promise<void>((resolve) => stream.end(resolve));
  });
  return {
    prosody,
    service,
    config,
    vault: vault.jid,
    dataDir,
    async agent(prefix, overrides = {}) {
      const acc = await account(prefix);
      const dir = mkdtempSync(join(tmpdir(), 'sealpost-agent-'));
      const opened: Agent[] = [];
      onTestFinished(async () => {
        for (const a of opened) await a.stop().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      });
      const base: AgentOptions = {
        xmpp: { service: prosody.service, domain: prosody.domain, username: acc.username, password: acc.password },
        vault: vault.jid,
        dir,
        secret: { key: new Uint8Array(randomBytes(32)) },
        ...overrides,
      };
      const reopen = async (more: Partial<AgentOptions> = {}): Promise<Agent> => {
        const a = await createAgent({ ...base, ...more });
        opened.push(a);
        return a;
      };
      return { agent: await reopen(), jid: acc.jid, reopen };
    },
  };
}

/**
 * The store path under a fault: `n` sends from a new agent to another that stays offline, with
 * receipts tracked (each one must find its row committed, once). The test drives its fault while
 * `receipts()` grows, then `finish()` waits for every send and an empty store queue, and
 * `expectAllStoredOnce()` checks that nothing was lost, doubled, refused or receipted early.
 */
export interface StoreRun {
  /** Messages receipted so far (first or repeated receipts). */
  receipts(): number;
  /** True once every send has settled. */
  done(): boolean;
  /** Waits for every send and for the store queue to empty; ms from the first send to the last receipt. */
  finish(): Promise<{ sentMs: number }>;
  /** After finish(): every message receipted and stored once, none refused, receipted early or failed. */
  expectAllStoredOnce(): Promise<void>;
}

/** `archive`: where bob's rows are read (default the in-process service's; an ingest-only one holds none). */
export async function storeRun(world: PrivateWorld, n: number, resendAfterMs: number, archive: Pick<ArchiveStore, 'deliveryState' | 'pendingCounts'> = world.service.archive): Promise<StoreRun> {
  const alice = await world.agent('alice', { resendAfterMs });
  const bob = await world.agent('bob');
  await bob.agent.stop(); // offline: every message stays pending in his archive
  const rowsOf = (id: string): number => archive.deliveryState(bob.jid, alice.jid, id)?.length ?? 0;

  const receipted = new Set<string>();
  const early: string[] = [];
  alice.agent.on('receipt', (id) => {
    if (rowsOf(id) !== 1) early.push(id);
    receipted.add(id);
  });
  const refused: string[] = [];
  alice.agent.on('refused', (id, err) => refused.push(`${id}: ${err.message}`));

  const t0 = Date.now();
  const first = await alice.agent.send(bob.jid, 'm0'); // claims the bundles
  const rest = Promise.all(Array.from({ length: n - 1 }, (_, i) => alice.agent.send(bob.jid, `m${i + 1}`)));
  const queue = world.service.queues.store;
  let ids: string[] = [];
  let settled = false;
  rest.then(
    () => (settled = true),
    () => (settled = true),
  );
  return {
    receipts: () => receipted.size,
    done: () => settled,
    async finish() {
      ids = [first.messageId, ...(await rest).map((r) => r.messageId)];
      const sentMs = Date.now() - t0;
      // Jobs of resends that came after a receipt may still run: wait for the queue to empty.
      await waitUntil('store queue drained', async () => {
        const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        return Object.values(c).every((k) => k === 0);
      }, 30_000);
      return { sentMs };
    },
    async expectAllStoredOnce() {
      expect(ids).toHaveLength(n);
      expect(refused).toEqual([]);
      expect(early).toEqual([]);
      expect(new Set(ids).size).toBe(n);
      expect(ids.filter((id) => !receipted.has(id))).toEqual([]);
      expect(ids.filter((id) => rowsOf(id) !== 1)).toEqual([]);
      expect(archive.pendingCounts(bob.jid).messages).toBe(n);
      expect(alice.agent.outbox.size).toBe(0);
      expect(await queue.getFailedCount()).toBe(0);
    },
  };
}
