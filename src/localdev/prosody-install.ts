// Makes sure Prosody is installed: Debian's package, installed by us when missing and running as
// root (apt-get update, then a non-interactive install). The package's own system service is not
// wanted: the harness runs private instances, so a service the postinst started is stopped again.
import { existsSync, readFileSync } from 'node:fs';
import { AppError, ErrorCode } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { pidAlive, run, sleep, which } from './proc.js';

export interface ProsodyBinaries {
  prosody: string;
  prosodyctl: string;
}

const SYSTEM_PIDFILE = '/run/prosody/prosody.pid';
let installing: Promise<ProsodyBinaries> | undefined;

function findBinaries(): ProsodyBinaries | undefined {
  const prosody = which('prosody');
  const prosodyctl = which('prosodyctl');
  return prosody !== undefined && prosodyctl !== undefined ? { prosody, prosodyctl } : undefined;
}

/** Finds prosody and prosodyctl; installs the Debian package first when missing and root. */
export async function ensureProsodyInstalled(logger: Logger = silentLogger()): Promise<ProsodyBinaries> {
  await waitWhileDpkgBusy(logger);
  const found = findBinaries();
  if (found !== undefined) return found;
  installing ??= install(logger).finally(() => (installing = undefined));
  return installing;
}

const TRANSIENT = new Set(['half-installed', 'unpacked', 'half-configured']);

/**
 * When another process is installing the package right now, its binaries exist before its
 * postinst has created the `prosody` user: wait until dpkg says the package settled (≤ 3 min).
 */
async function waitWhileDpkgBusy(logger: Logger): Promise<void> {
  if (which('dpkg-query') === undefined) return;
  for (let i = 0; i < 360; i++) {
    const res = await run('dpkg-query', ['-W', '-f=${db:Status-Status}', 'prosody'], { timeoutMs: 10_000 });
    if (res.code !== 0 || !TRANSIENT.has(res.output.trim())) return;
    if (i === 0) logger.info({ status: res.output.trim() }, 'prosody is being installed by another process; waiting');
    await sleep(500);
  }
}

async function install(logger: Logger): Promise<ProsodyBinaries> {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || which('apt-get') === undefined)
    throw new AppError(
      ErrorCode.Unavailable,
      'Prosody is not installed. Install it (Debian/Ubuntu: sudo apt-get install prosody) or run as root ' +
        'so the harness can install it.',
    );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' };
  const started = Date.now();
  logger.info('prosody is missing: apt-get update && apt-get install -y prosody');
  // Another process (a parallel test run) may be installing it right now: wait for apt's locks,
  // and on failure look again before giving up.
  const update = await run('apt-get', ['-q', '-o', 'DPkg::Lock::Timeout=120', 'update'], { env, timeoutMs: 300_000 });
  if (update.code !== 0) {
    const meanwhile = findBinaries();
    if (meanwhile !== undefined) return meanwhile;
    throw new AppError(ErrorCode.Unavailable, `apt-get update failed (${update.code}):\n${update.output.slice(-3000)}`);
  }
  const inst = await run(
    'apt-get',
    [
      '-q', '-y',
      '-o', 'DPkg::Lock::Timeout=120',
      '-o', 'Dpkg::Options::=--force-confdef',
      '-o', 'Dpkg::Options::=--force-confold',
      'install', 'prosody',
    ],
    { env, timeoutMs: 600_000 },
  );
  if (inst.code !== 0 && findBinaries() === undefined)
    throw new AppError(ErrorCode.Unavailable, `apt-get install prosody failed (${inst.code}):\n${inst.output.slice(-3000)}`);
  await stopSystemService(logger);
  const found = findBinaries();
  if (found === undefined)
    throw new AppError(ErrorCode.Unavailable, 'apt-get installed prosody but prosody/prosodyctl are not on PATH');
  logger.info({ ms: Date.now() - started }, 'prosody installed');
  return found;
}

/**
 * The Debian postinst may start the system instance (where no policy-rc.d forbids it). It would
 * hold 5222/5269 and serve nobody here, so stop it: the init script first, then its pidfile.
 */
export async function stopSystemService(logger: Logger = silentLogger()): Promise<void> {
  const pid = systemPid();
  if (pid === undefined) return;
  logger.info({ pid }, 'stopping the prosody system service the package started');
  if (which('invoke-rc.d') !== undefined) await run('invoke-rc.d', ['prosody', 'stop'], { timeoutMs: 30_000 });
  else if (which('service') !== undefined) await run('service', ['prosody', 'stop'], { timeoutMs: 30_000 });
  if (which('systemctl') !== undefined) await run('systemctl', ['disable', '--now', 'prosody'], { timeoutMs: 30_000 });
  const left = systemPid();
  if (left === undefined) return;
  process.kill(left, 'SIGTERM');
  for (let i = 0; i < 100 && pidAlive(left); i++) await sleep(50);
  if (pidAlive(left)) process.kill(left, 'SIGKILL');
}

function systemPid(): number | undefined {
  if (!existsSync(SYSTEM_PIDFILE)) return undefined;
  const pid = Number(readFileSync(SYSTEM_PIDFILE, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('prosody') ? pid : undefined;
  } catch {
    return pid;
  }
}
