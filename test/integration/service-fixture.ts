// Starts the real service (src/main.ts's startService) for one test against the harness's Prosody
// and Redis: a fresh vault account, a temp data dir, a unique queue prefix, logs captured to a
// file (for canary scans); and agents (the real SDK) with their own temp dirs. Everything is
// stopped and removed when the test finishes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { createAgent, type Agent, type AgentOptions } from '../../src/agent/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { startService, type Service, type StartOptions } from '../../src/main.js';
import { createRedis } from '../../src/workers/index.js';
import { createAgentKeys, decodeBundle, initSodium, targetsFromBundles, type AgentKeyState, type SealTargets } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { bundleFromXml } from '../../src/protocol/xml-codec.js';
import { xml, type XmppConnection } from '../../src/xmpp/index.js';
import { connectFreshAccount, createAccount, goOnline, services, type Account } from './helpers.js';

export interface TestService {
  service: Service;
  /** The SEALPOST_* environment it runs with (for CLI child processes on the same data). */
  env: Record<string, string>;
  config: Config;
  vault: Account;
  dataDir: string;
  logFile: string;
  /** Stops the service (idempotent); the data dir stays until the test ends, for restarts. */
  stop(): Promise<void>;
  /** Starts the service again on the same data dir, vault account and prefix. */
  restart(): Promise<TestService>;
}

async function boot(env: Record<string, string>, vault: Account, dataDir: string, options: StartOptions): Promise<TestService> {
  const config = loadConfig(env);
  const logFile = join(dataDir, `service-${randomUUID().slice(0, 6)}.log`);
  const stream = createWriteStream(logFile, { flags: 'a' });
  const logger = createLogger({ level: 'debug', destination: stream });
  const service = await startService(config, { ops: false, logger, ...options });
  let stopped = false;
  const ts: TestService = {
    service,
    env,
    config,
    vault,
    dataDir,
    logFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      await service.stop();
      await new Promise<void>((resolve) => stream.end(resolve));
    },
    restart: async () => {
      await ts.stop();
      return boot(env, vault, dataDir, options);
    },
  };
  onTestFinished(() => ts.stop());
  return ts;
}

export interface ServiceEnv {
  env: Record<string, string>;
  vault: Account;
  dataDir: string;
}

/**
 * The environment of a service for one test (fresh vault account, temp data dir, unique queue
 * prefix), with clean-up when the test ends; for a service run in-process or as a child process.
 */
export async function testServiceEnv(env: Record<string, string> = {}): Promise<ServiceEnv> {
  const { xmpp, redisUrl } = services();
  const vault = await createAccount('vault');
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-svc-'));
  const prefix = `t${randomUUID().slice(0, 8)}`;
  onTestFinished(async () => {
    const redis = createRedis(redisUrl, 'worker');
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    // SEALPOST_TEST_KEEP=1 keeps data dirs and service logs for a post-mortem.
    if (process.env.SEALPOST_TEST_KEEP === undefined) rmSync(dataDir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dataDir}\n`);
  });
  const fullEnv: Record<string, string> = {
    SEALPOST_XMPP_SERVICE: xmpp.service,
    SEALPOST_XMPP_DOMAIN: xmpp.domain,
    SEALPOST_VAULT_USER: vault.username,
    SEALPOST_VAULT_PASSWORD: vault.password,
    SEALPOST_VAULT_RESOURCE: `vault-${randomUUID().slice(0, 6)}`,
    REDIS_URL: redisUrl,
    SEALPOST_QUEUE_PREFIX: prefix,
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_MASTER_KEY: randomBytes(32).toString('base64'),
    SEALPOST_HTTP_PORT: '0',
    SEALPOST_ALLOWED_DOMAINS: xmpp.domain,
    ...env,
  };
  return { env: fullEnv, vault, dataDir };
}

export interface ServeProcess {
  child: ChildProcess;
  /** Resolves once the service logged that it runs; rejects if it exited before. */
  running: Promise<void>;
  exited: Promise<number | null>;
  /** Its stdout (info logs) and stderr so far. */
  output(): string;
}

/** `sealpost serve` as a child process (killed when the test ends if still running). */
export function serveProcess(env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, ['bin/sealpost.js', 'serve'], {
    cwd: process.cwd(),
    env: { ...process.env, ...env, SEALPOST_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const running = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('sealpost service running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`service exited (${code}) before running:\n${out.slice(-2000)}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, running, exited, output: () => out };
}

/** A running service with a fresh vault account; `env` overrides settings (SEALPOST_* names). */
export async function startTestService(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestService> {
  const se = await testServiceEnv(env);
  return boot(se.env, se.vault, se.dataDir, options);
}

export interface TestAgent {
  agent: Agent;
  account: Account;
  dir: string;
  options: AgentOptions;
  /** Starts the same device again (same dir and key file). */
  reopen(overrides?: Partial<AgentOptions>): Promise<Agent>;
}

/** A new account with the real SDK, linked to `ts`'s vault. */
export async function startAgent(ts: Pick<TestService, 'vault'>, prefix = 'agent', overrides: Partial<AgentOptions> = {}): Promise<TestAgent> {
  const { xmpp } = services();
  const account = await createAccount(prefix);
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-agent-'));
  const options: AgentOptions = {
    xmpp: { service: xmpp.service, domain: xmpp.domain, username: account.username, password: account.password },
    vault: ts.vault.jid,
    dir,
    secret: { key: new Uint8Array(randomBytes(32)) },
    ...overrides,
  };
  const agents: Agent[] = [];
  onTestFinished(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async (more: Partial<AgentOptions> = {}): Promise<Agent> => {
    const a = await createAgent({ ...options, ...more });
    agents.push(a);
    return a;
  };
  const agent = await open();
  return { agent, account, dir, options, reopen: open };
}

export interface RawSender {
  account: Account;
  conn: XmppConnection;
  keys: AgentKeyState;
  /** The recipient's devices and archive key from a fetch (with claim) at the vault, verified. */
  targets: SealTargets;
}

/** A fresh account on a plain XMPP connection (no SDK), online, with keys and `recipient`'s fetched bundles: for hand-made submissions. */
export async function rawSenderTo(ts: Pick<TestService, 'service'>, recipient: string): Promise<RawSender> {
  await initSodium();
  const { account, conn } = await connectFreshAccount('raw');
  await goOnline(conn);
  const keys = createAgentKeys({ jid: account.jid, now: Date.now(), oneTimePrekeys: 1 });
  const reply = await conn.sendReceive(xml('iq', { type: 'set', to: ts.service.conn.jid }, xml('fetch', { xmlns: NS.keys, jid: recipient })));
  const entries = reply.getChild('bundles', NS.keys)?.getChildren('entry') ?? [];
  const bundles = entries.map((e) => {
    const bundle = e.getChild('bundle', NS.keys);
    if (bundle === undefined) throw new Error('fetch answer: entry without a bundle');
    return decodeBundle(bundleFromXml(bundle, 1), { expectJid: recipient });
  });
  return { account, conn, keys, targets: targetsFromBundles(recipient, bundles, Date.now()) };
}
