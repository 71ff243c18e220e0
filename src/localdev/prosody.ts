// A private Prosody for tests, the demo and development: fresh temp dir, loopback-only config,
// free c2s port, started in the foreground (`prosody -F --config FILE`) as the `prosody` user when
// we are root (Prosody refuses to run as root), stopped and removed on exit (see cleanup.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { trackTempDir } from './cleanup.js';
import { registerInBand } from './inband.js';
import { ensureProsodyInstalled } from './prosody-install.js';
import { renderProsodyConfig } from './prosody-config.js';
import { freePort, pidAlive, portAnswers, run, sleep, waitFor } from './proc.js';

export type AccountMethod = 'inband' | 'prosodyctl';

export interface ProsodyOptions {
  /** The one VirtualHost; default `localhost`. */
  domain?: string;
  logger?: Logger;
  smacksHibernationSeconds?: number;
  /** Extra global config lines (trusted input only). */
  extraGlobalConfig?: string;
  /** Milliseconds to wait for the c2s port; default 30 s. */
  startTimeoutMs?: number;
}

export interface ProsodyHandle {
  /** For @xmpp/client: `xmpp://127.0.0.1:PORT`. */
  readonly service: string;
  readonly domain: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly configPath: string;
  /** Prosody's log (info level: connections, errors; never stanza bodies). */
  readonly logPath: string;
  readonly pid: number | undefined;
  /** Creates an account; in-band (XEP-0077) by default, or through prosodyctl. */
  createAccount(username: string, password: string, method?: AccountMethod): Promise<void>;
  /**
   * Stops the process (SIGTERM, or SIGKILL for a crash) and starts it again on the same port with
   * the same data: accounts, offline messages and archives stay. For fault tests.
   */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** The last part of Prosody's log, for failure messages (it never holds message bodies). */
  logTail(chars?: number): string;
  stop(): Promise<void>;
}

interface PosixIds {
  uid: number;
  gid: number;
}

/** uid/gid of the `prosody` system user, read from /etc/passwd. */
function prosodyUser(): PosixIds | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('prosody:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    return uid !== undefined && gid !== undefined ? { uid: Number(uid), gid: Number(gid) } : undefined;
  } catch {
    return undefined;
  }
}

function chownTree(path: string, ids: PosixIds): void {
  chownSync(path, ids.uid, ids.gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) chownTree(p, ids);
    else chownSync(p, ids.uid, ids.gid);
  }
}

export async function startProsody(options: ProsodyOptions = {}): Promise<ProsodyHandle> {
  const logger = options.logger ?? silentLogger();
  const domain = (options.domain ?? 'localhost').toLowerCase();
  const bins = await ensureProsodyInstalled(logger);
  const isRoot = process.getuid?.() === 0;
  const ids = isRoot ? prosodyUser() : undefined;
  if (isRoot && ids === undefined)
    throw new AppError(ErrorCode.Unavailable, 'running as root but there is no `prosody` user to run Prosody as');

  // A port taken between freePort() and Prosody's bind shows up as a failed activation: retry.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bins, domain, ids, options, logger);
    } catch (err) {
      if (attempt >= 3 || !AppError.is(err) || !err.message.includes('port')) throw err;
      logger.warn({ attempt }, 'prosody could not bind its port; retrying on another');
    }
  }
}

async function startOnce(
  bins: { prosody: string; prosodyctl: string },
  domain: string,
  ids: PosixIds | undefined,
  options: ProsodyOptions,
  logger: Logger,
): Promise<ProsodyHandle> {
  const started = Date.now();
  const tracked = trackTempDir('prosody', 'prosody');
  const dir = tracked.dir;
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'prosody.cfg.lua');
  const logPath = join(dir, 'prosody.log');
  const host = '127.0.0.1';
  const port = await freePort(host);
  mkdirSync(dataDir, { mode: 0o750 });
  mkdirSync(join(dir, 'certs'), { mode: 0o750 });
  writeFileSync(
    configPath,
    renderProsodyConfig({
      dir,
      dataDir,
      domain,
      c2sPort: port,
      ...(options.smacksHibernationSeconds === undefined ? {} : { smacksHibernationSeconds: options.smacksHibernationSeconds }),
      ...(options.extraGlobalConfig === undefined ? {} : { extraGlobal: options.extraGlobalConfig }),
    }),
  );
  writeFileSync(logPath, '');
  if (ids !== undefined) chownTree(dir, ids);

  const readLog = (chars = 4000): string => {
    try {
      return readFileSync(logPath, 'utf8').slice(-chars);
    } catch {
      return '(no log)';
    }
  };
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
  const activated = `Activated service 'c2s' on [${host}]:${port}`;
  let child: ChildProcess | undefined;
  let exited = true;

  /** Starts the process and waits for its c2s port; only log written after `from` counts. */
  const launch = async (): Promise<void> => {
    const from = readFileSync(logPath, 'utf8').length;
    const newLog = (): string => readFileSync(logPath, 'utf8').slice(from);
    const out = openSync(join(dir, 'prosody.stdout'), 'a');
    try {
      child = spawn(bins.prosody, ['-F', '--config', configPath], {
        cwd: dir,
        env,
        stdio: ['ignore', out, out],
        ...(ids ?? {}),
      });
    } finally {
      closeSync(out);
    }
    exited = false;
    const self = child;
    const onGone = (): void => {
      if (child === self) exited = true; // a previous process's late exit event must not count
    };
    self.once('exit', onGone);
    self.once('error', onGone);
    self.unref();
    tracked.setPid(child.pid);
    await waitFor(
      `prosody c2s on ${host}:${port}`,
      async () => newLog().includes(activated) && (await portAnswers(host, port)),
      options.startTimeoutMs ?? 30_000,
      () => {
        const log = newLog();
        if (/Failed to open server port|Address already in use/.test(log))
          return new AppError(ErrorCode.Unavailable, `prosody could not bind port ${port}:\n${log.slice(-2000)}`);
        if (exited)
          return new AppError(ErrorCode.Unavailable, `prosody exited at start:\n${log.slice(-2000)}\n${stdoutTail(dir)}`);
        return undefined;
      },
    );
  };

  /** Signals the process and waits until it is gone (SIGKILL after 5 s). */
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const pid = child?.pid;
    if (pid === undefined || exited) return;
    child?.kill(signal);
    for (let i = 0; i < 100 && !exited && pidAlive(pid); i++) await sleep(50);
    if (!exited && pidAlive(pid)) child?.kill('SIGKILL');
    for (let i = 0; i < 100 && !exited && pidAlive(pid); i++) await sleep(50);
    if (!pidAlive(pid)) exited = true;
    tracked.setPid(undefined);
  };

  try {
    await launch();
  } catch (err) {
    tracked.disposeSync();
    throw err;
  }
  logger.info({ port, domain, ms: Date.now() - started }, 'prosody ready');

  const stop = async (): Promise<void> => {
    await kill('SIGTERM');
    tracked.disposeSync(); // SIGKILLs a straggler, removes the dir
  };

  return {
    service: `xmpp://${host}:${port}`,
    domain,
    host,
    port,
    dataDir,
    configPath,
    logPath,
    get pid() {
      return exited ? undefined : child?.pid;
    },
    async restart(signal = 'SIGTERM') {
      await kill(signal);
      await launch();
    },
    async createAccount(username, password, method = 'inband') {
      if (method === 'inband') return registerInBand({ host, port, domain, username, password });
      const res = await run(bins.prosodyctl, ['--config', configPath, 'register', username, domain, password], {
        env,
        timeoutMs: 30_000,
      });
      if (res.code !== 0)
        throw new AppError(ErrorCode.Unavailable, `prosodyctl register ${username} failed (${res.code}): ${res.output.slice(-500)}`);
    },
    logTail: readLog,
    stop,
  };
}

function stdoutTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'prosody.stdout'), 'utf8').slice(-1000);
  } catch {
    return '';
  }
}
