// Small numeric helpers for the benchmark: rates, percentiles (nearest rank), rounding for print.

/** Messages per second for `n` messages over `ms` milliseconds. */
export function perSecond(n: number, ms: number): number {
  return ms <= 0 ? Number.POSITIVE_INFINITY : n / (ms / 1000);
}

/** Nearest-rank percentile (p in 0..100) of `values`; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** The middle value (upper middle for an even count); NaN for none. */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** This process's CPU µs per call over `n` calls of `fn` (awaited one after another). */
export async function cpuUsPerCall(fn: () => unknown, n: number): Promise<number> {
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / n;
}

/** Rounds to `digits` decimals (JSON and print stay readable). */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it is true; rejects with `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number, everyMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A promise with its resolve/reject exposed, and a timeout that rejects with `what`. */
export function deferred<T = void>(what: string, timeoutMs: number): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    resolve = (v) => {
      clearTimeout(timer);
      res(v);
    };
    reject = (e) => {
      clearTimeout(timer);
      rej(e);
    };
  });
  return { promise, resolve, reject };
}
