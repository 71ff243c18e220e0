// The shared set-up of a benchmark run: local Redis and a private Prosody (src/localdev), fresh
// accounts, a work folder, the service's environment (its own queue prefix, data dir and master
// key), a build of the service to run (as deployed), and the clean-up of all of it, Redis keys
// included.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLocalServices, freePort, type LocalServices } from '../../src/localdev/index.js';
import { createLogger } from '../../src/log/index.js';
import { createRedis } from '../../src/workers/index.js';
import type { XmppAccount, XmppServer } from './prosody-path.js';
import { startServiceProcess, type ServiceProcess } from './service-proc.js';

export interface BenchContext {
  local: LocalServices;
  server: XmppServer;
  work: string;
  out: string;
  vault: XmppAccount;
  env: Record<string, string>;
  account(prefix: string): Promise<XmppAccount>;
  startService(extraEnv?: Record<string, string>, nodeArgs?: readonly string[], role?: 'serve' | 'ingest' | 'worker'): Promise<ServiceProcess>;
  close(): Promise<void>;
}

/** Progress lines go to stderr, so `--json` leaves stdout to the one JSON object. */
export const progress = (line: string): void => void process.stderr.write(`${line}\n`);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Compiles the service (tsconfig.build.json) into <repo>/bench-out/dist — inside the repository,
 * so its imports find node_modules — and returns the CLI's path.
 */
export function buildService(): string {
  const dist = join(ROOT, 'bench-out', 'dist');
  rmSync(dist, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dist], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the service failed:\n${r.stdout}${r.stderr}`);
  return join(dist, 'src', 'cli', 'index.js');
}

export interface SetUpOptions {
  /** Run the service from the TypeScript sources through tsx (quicker start, more memory) instead of a build. */
  fromSources?: boolean;
}

export async function setUp(outDir: string, options: SetUpOptions = {}): Promise<BenchContext> {
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  const entry = options.fromSources === true ? undefined : buildService();
  const work = mkdtempSync(join(tmpdir(), 'sealpost-bench-'));
  const local = await ensureLocalServices({ logger: createLogger({ level: 'warn', name: 'localdev' }) });
  const server: XmppServer = { service: local.prosody.service, domain: local.prosody.domain };
  const account = async (prefix: string): Promise<XmppAccount> => {
    const username = `${prefix}-${randomUUID().slice(0, 8)}`;
    const password = randomBytes(12).toString('hex');
    await local.prosody.createAccount(username, password);
    return { username, password, jid: `${username}@${server.domain}` };
  };
  const vault = await account('vault');
  const prefix = `bench${randomUUID().slice(0, 6)}`;
  const env: Record<string, string> = {
    SEALPOST_XMPP_SERVICE: server.service,
    SEALPOST_XMPP_DOMAIN: server.domain,
    SEALPOST_VAULT_USER: vault.username,
    SEALPOST_VAULT_PASSWORD: vault.password,
    SEALPOST_ALLOWED_DOMAINS: server.domain,
    REDIS_URL: local.redisUrl,
    SEALPOST_QUEUE_PREFIX: prefix,
    SEALPOST_DATA_DIR: join(work, 'vault-data'),
    SEALPOST_MASTER_KEY: randomBytes(32).toString('base64'),
    SEALPOST_LOG_LEVEL: 'info',
    // The per-sender rate limit is a policy, not a capacity: the benchmark measures capacity.
    SEALPOST_SENDER_RATE: '10000000',
    SEALPOST_LOOKUP_BURST: '10000000',
  };
  const running = new Set<ServiceProcess>();
  let n = 0;
  return {
    local,
    server,
    work,
    out,
    vault,
    env,
    account,
    async startService(extraEnv = {}, nodeArgs = [], role = 'serve') {
      const svc = await startServiceProcess({
        env: { ...env, ...extraEnv },
        nodeArgs,
        role,
        ...(entry === undefined ? {} : { entry }),
        logFile: join(out, `${role === 'serve' ? 'service' : role}-${++n}.log`),
        opsPort: await freePort(),
      });
      running.add(svc);
      const stop = svc.stop.bind(svc);
      svc.stop = async (graceMs) => {
        running.delete(svc);
        await stop(graceMs);
      };
      return svc;
    },
    async close() {
      for (const svc of running) await svc.stop().catch(() => undefined);
      const redis = createRedis(local.redisUrl, 'worker');
      try {
        for (;;) {
          const keys = await redis.keys(`${prefix}:*`);
          if (keys.length === 0) break;
          for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
        }
      } finally {
        await redis.quit();
      }
      await local.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
