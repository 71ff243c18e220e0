// The sealpost service under test as a child process (`sealpost serve` from a build, as deployed,
// or from the sources through tsx; configured by SEALPOST_* variables), so its memory is its own
// (a tsx loader thread would add tens of MB that a deployment does not have): /proc/<pid>/status is
// sampled for VmRSS (current) and VmHWM (the kernel's peak). Ready when the service logs that it
// runs; its counters come from the ops endpoint's Prometheus text.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deferred, sleep } from './stats.js';

const BIN = fileURLToPath(new URL('../../bin/sealpost.js', import.meta.url));

export interface MemorySample {
  /** ms since the sampler started. */
  t: number;
  rssMb: number;
}

export interface ServiceProcess {
  readonly pid: number;
  readonly opsUrl: string;
  /** Current resident set (MiB). */
  rssMb(): number;
  /** Peak resident set since start (MiB): the larger of VmHWM and every sample taken. */
  peakRssMb(): number;
  /** Samples since start (every `sampleMs`). */
  readonly samples: readonly MemorySample[];
  /** Starts a fresh peak window: returns a function that reports the peak of sampled RSS since. */
  window(): () => number;
  /** A counter or gauge from /metrics, summed over the series whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** SIGTERM, wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/** Reads VmRSS and VmHWM (MiB) of `pid` from /proc; undefined when gone. */
export function procMemory(pid: number): { rssMb: number; hwmMb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

export interface StartServiceOptions {
  env: Record<string, string>;
  /** The service's log (pino JSON) goes here. */
  logFile: string;
  opsPort: number;
  /** The CLI to run: a built `dist/src/cli/index.js` (default: bin/sealpost.js, sources through tsx). */
  entry?: string;
  /** The role to run (default `serve`: every role in one process). */
  role?: 'serve' | 'ingest' | 'worker';
  /** Extra node options, e.g. `--cpu-prof` (NODE_OPTIONS may not carry those). */
  nodeArgs?: readonly string[];
  sampleMs?: number;
  readyTimeoutMs?: number;
}

export async function startServiceProcess(o: StartServiceOptions): Promise<ServiceProcess> {
  const child: ChildProcess = spawn(process.execPath, [...(o.nodeArgs ?? []), o.entry ?? BIN, o.role ?? 'serve'], {
    env: { ...process.env, ...o.env, SEALPOST_HTTP_HOST: '127.0.0.1', SEALPOST_HTTP_PORT: String(o.opsPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot start the service process');
  const log = createWriteStream(o.logFile);
  const ready = deferred('the service to start', o.readyTimeoutMs ?? 60_000);
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    buffered = (buffered + chunk.toString('utf8')).slice(-65_536);
    if (buffered.includes('"sealpost service running"')) {
      ready.resolve();
      buffered = '';
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => log.write(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then((code) => ready.reject(new Error(`the service exited (code ${code}) before it was ready; see ${o.logFile}`)));

  const samples: MemorySample[] = [];
  const started = Date.now();
  let peak = 0;
  let windowPeak = 0;
  const sample = (): void => {
    const m = procMemory(pid);
    if (m === undefined) return;
    samples.push({ t: Date.now() - started, rssMb: m.rssMb });
    peak = Math.max(peak, m.rssMb, m.hwmMb);
    windowPeak = Math.max(windowPeak, m.rssMb);
  };
  const timer = setInterval(sample, o.sampleMs ?? 100);
  try {
    await ready.promise;
  } catch (err) {
    clearInterval(timer);
    child.kill('SIGKILL');
    throw err;
  }
  const opsUrl = `http://127.0.0.1:${o.opsPort}`;

  return {
    pid,
    opsUrl,
    samples,
    rssMb: () => procMemory(pid)?.rssMb ?? Number.NaN,
    peakRssMb() {
      sample();
      return peak;
    },
    window() {
      sample();
      windowPeak = procMemory(pid)?.rssMb ?? 0;
      return () => {
        sample();
        return windowPeak;
      };
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`${opsUrl}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_:]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
        if (m === null || m[1] !== name) continue;
        const set = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(m[3]);
      }
      return sum;
    },
    async stop(graceMs = 15_000) {
      sample();
      clearInterval(timer);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
        if (killed) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}
