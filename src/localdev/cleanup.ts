// Everything the harness starts is tracked here and removed on exit: on a normal exit, when a
// test fails, on SIGINT/SIGTERM/SIGHUP. A process killed with SIGKILL cannot clean up, so each
// temp dir records its owner; the next harness start reaps dirs whose owner is gone.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from './proc.js';

const PREFIX = 'sealpost-localdev-';
const MARKER = 'owner.json';

interface Tracked {
  name: string;
  /** Binary name that the child's /proc cmdline must contain (guards against pid reuse). */
  binary: string;
  dir: string;
  pid: number | undefined;
}

interface Marker {
  ownerPid: number;
  childPid?: number;
  binary: string;
}

const live = new Set<Tracked>();
let hooksInstalled = false;
let reaped = false;

/** Handle on one tracked resource: a temp dir and, once started, its child process. */
export interface TrackedHandle {
  readonly dir: string;
  setPid(pid: number | undefined): void;
  /** Kills the child (SIGKILL) if still there, removes the dir, stops tracking. Idempotent. */
  disposeSync(): void;
  /** Stops tracking without touching anything (after an orderly async stop). */
  untrack(): void;
}

/** Creates a fresh temp dir for `name` and tracks it until disposed. */
export function trackTempDir(name: string, binary: string): TrackedHandle {
  installHooks();
  reapStale();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${name}-`));
  const entry: Tracked = { name, binary, dir, pid: undefined };
  live.add(entry);
  const writeMarker = (): void => {
    const marker: Marker = { ownerPid: process.pid, binary, ...(entry.pid ? { childPid: entry.pid } : {}) };
    writeFileSync(join(dir, MARKER), JSON.stringify(marker));
  };
  writeMarker();
  return {
    dir,
    setPid(pid) {
      entry.pid = pid;
      writeMarker();
    },
    disposeSync() {
      disposeEntry(entry);
    },
    untrack() {
      live.delete(entry);
    },
  };
}

function disposeEntry(entry: Tracked): void {
  if (entry.pid !== undefined && pidAlive(entry.pid)) {
    try {
      process.kill(entry.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(entry.dir, { recursive: true, force: true });
  live.delete(entry);
}

/** Synchronously kills every tracked child and removes every tracked dir. */
export function disposeAllSync(): void {
  for (const entry of [...live]) disposeEntry(entry);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', disposeAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      disposeAllSync();
      process.removeListener(signal, onSignal);
      // With no other handler left, behave as if we had never listened: die by the signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** True when `pid` runs `binary` (Linux /proc); elsewhere we cannot tell, so say no. */
function runsBinary(pid: number, binary: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(binary);
  } catch {
    return false;
  }
}

/** Removes temp dirs (and their children) left by harness processes that died without cleanup. */
export function reapStale(): void {
  if (reaped) return;
  reaped = true;
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    let marker: Marker;
    try {
      marker = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as Marker;
    } catch {
      continue; // not ours to judge, or being created right now
    }
    if (marker.ownerPid === process.pid || pidAlive(marker.ownerPid)) continue;
    const child = marker.childPid;
    if (child !== undefined && pidAlive(child) && runsBinary(child, marker.binary)) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
