// CPU time per process over a phase of the benchmark (what bounds a path: on a machine with few
// cores the paths are CPU-bound, and the split shows where the cycles go). Other processes read
// from /proc/<pid>/stat (utime + stime, in clock ticks of 10 ms); the benchmark's own process (the
// agents and clients) from process.cpuUsage().
import { readFileSync } from 'node:fs';

export type CpuSplit = Record<string, number>;

/** utime + stime of `pid` in ms; NaN when it cannot be read. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** Starts measuring; the returned function gives ms of CPU per named process since then ('clients' = this process). */
export function cpuMeter(pids: Record<string, number | undefined>): () => CpuSplit {
  const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuMs(pid)]));
  const self = process.cpuUsage();
  return () => {
    const out: CpuSplit = {};
    for (const [name, pid] of Object.entries(pids)) out[name] = processCpuMs(pid) - (start[name] ?? Number.NaN);
    const mine = process.cpuUsage(self);
    out.clients = (mine.user + mine.system) / 1000;
    return out;
  };
}
