// Finding or starting Redis for local runs. PING speaks RESP over a raw socket so this helper
// needs no client library (src/workers/bullmq.ts stays the one module importing ioredis).
// Started servers live in a temp dir and are removed on exit (see cleanup.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { trackTempDir, type TrackedHandle } from './cleanup.js';
import { freePort, pidAlive, sleep, waitFor, which } from './proc.js';
import { isLoopbackUrl } from '../net/index.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function resp(...parts: string[]): string {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

/** True when a Redis server at `url` answers PING (after AUTH when the URL has credentials). */
export function pingRedis(url: string, timeoutMs = 500): Promise<boolean> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.resolve(false);
  }
  if (u.protocol !== 'redis:') return Promise.resolve(false); // rediss: not probed here
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(u.port || '6379');
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let buffer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      const auth = pass ? (user ? resp('AUTH', user, pass) : resp('AUTH', pass)) : '';
      socket.write(auth + resp('PING'));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (buffer.includes('+PONG\r\n')) done(true);
      else if (buffer.includes('-')) done(false);
    });
  });
}

export interface RedisServerOptions {
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** Data dir (AOF, RDB); a fresh temp dir, removed on stop, when omitted. */
  dir?: string;
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
  maxmemoryPolicy?: string;
  /** More `--name value` pairs, e.g. ['--maxmemory', '64mb']. */
  extraArgs?: readonly string[];
  logger?: Logger;
}

export interface RedisServerHandle {
  readonly url: string;
  readonly port: number;
  /** Where AOF/RDB files go. */
  readonly dir: string;
  /** Pid of the running server, undefined while stopped. */
  readonly pid: number | undefined;
  /** Sends a signal (SIGKILL by default: a crash) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and dir (after kill or stop). */
  restart(): Promise<void>;
  /** Graceful stop (SHUTDOWN via SIGTERM), then removes the temp dir it created. */
  stop(): Promise<void>;
}

/** Starts a dedicated redis-server on loopback; the caller owns it and must stop it. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const logger = options.logger ?? silentLogger();
  const bin = which('redis-server');
  if (bin === undefined)
    throw new AppError(ErrorCode.Unavailable, 'redis-server is not installed (apt-get install redis-server)');
  const tracked: TrackedHandle = trackTempDir('redis', 'redis-server');
  const dir = options.dir ?? tracked.dir;
  const port = options.port ?? (await freePort());
  const args = [
    '--bind', '127.0.0.1',
    '--port', String(port),
    '--dir', dir,
    '--save', '',
    '--appendonly', options.appendonly === true ? 'yes' : 'no',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--maxmemory-policy', options.maxmemoryPolicy ?? 'noeviction',
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--logfile', join(tracked.dir, 'redis.log'),
    ...(options.extraArgs ?? []),
  ];
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited = false;

  const launch = async (): Promise<void> => {
    const out = openSync(join(tracked.dir, 'redis.stdout'), 'a');
    try {
      child = spawn(bin, args, { stdio: ['ignore', out, out], detached: false });
    } finally {
      closeSync(out);
    }
    exited = false;
    const self = child;
    self.once('exit', () => {
      if (child === self) exited = true; // a previous process's late exit event must not count
    });
    self.unref();
    tracked.setPid(child.pid);
    const started = Date.now();
    await waitFor(`redis-server on port ${port}`, () => pingRedis(url, 300), 15_000, () =>
      exited ? new AppError(ErrorCode.Unavailable, `redis-server exited at start: ${logTail(tracked.dir)}`) : undefined,
    );
    logger.debug({ port, ms: Date.now() - started }, 'redis-server ready');
  };

  const waitGone = async (pid: number | undefined, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (pid !== undefined && !exited && pidAlive(pid) && Date.now() < deadline) await sleep(20);
    return pid === undefined || exited || !pidAlive(pid);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const pid = child?.pid;
    if (pid === undefined || exited) return;
    child?.kill(signal);
    if (!(await waitGone(pid, 10_000))) {
      child?.kill('SIGKILL');
      await waitGone(pid, 5_000);
    }
    tracked.setPid(undefined);
    child = undefined;
  };

  await launch();
  return {
    url,
    port,
    dir,
    get pid() {
      return exited ? undefined : child?.pid;
    },
    kill,
    async restart() {
      await kill('SIGKILL');
      await launch();
    },
    async stop() {
      await kill('SIGTERM');
      tracked.disposeSync();
    },
  };
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'redis.log'), 'utf8').slice(-2000);
  } catch {
    return '(no log)';
  }
}

export interface FoundRedis {
  url: string;
  /** Present when the harness started its own server; stop it when done. */
  server?: RedisServerHandle;
}

/**
 * Finds Redis: `REDIS_URL` (or `url`), default redis://127.0.0.1:6379. When nothing answers there
 * and the address is on loopback, starts a private redis-server (no persistence) if one is installed.
 */
export async function findRedis(options: { url?: string; logger?: Logger } = {}): Promise<FoundRedis> {
  const logger = options.logger ?? silentLogger();
  const url = options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
  if (await pingRedis(url)) return { url };
  if (!isLoopbackUrl(url))
    throw new AppError(ErrorCode.Unavailable, `Redis at ${redactUrl(url)} does not answer PING`);
  if (which('redis-server') === undefined)
    throw new AppError(ErrorCode.Unavailable, `no Redis answers at ${redactUrl(url)} and redis-server is not installed`);
  logger.info({ tried: redactUrl(url) }, 'no Redis answered; starting a private redis-server');
  const server = await startRedisServer({ logger });
  return { url: server.url, server };
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}
