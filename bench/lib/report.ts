// The comparison's result across runs (issue 16): every figure as the median of the runs, the
// targets checked on the medians, and the printed table with each run's value beside the median.
import { round } from './stats.js';

/** A result is a tree of figures (numbers) under names; anything else is kept from the first run. */
export type Figures = { [name: string]: number | string | Figures };

/** The median of each figure over the runs (the lower middle for an even count). */
export function medianOf(runs: readonly Figures[]): Figures {
  const first = runs[0];
  if (first === undefined) throw new RangeError('medianOf: no runs');
  const out: Figures = {};
  for (const [k, v] of Object.entries(first)) {
    if (typeof v === 'number') {
      const xs = runs.map((r) => r[k]).filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
      out[k] = xs[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
    } else if (typeof v === 'object') out[k] = medianOf(runs.map((r) => r[k]).filter((x): x is Figures => typeof x === 'object'));
    else out[k] = v;
  }
  return out;
}

/** The figure at a dotted path, NaN when absent. */
export function figure(f: Figures, path: string): number {
  let cur: number | string | Figures | undefined = f;
  for (const part of path.split('.')) cur = typeof cur === 'object' ? cur[part] : undefined;
  return typeof cur === 'number' ? cur : Number.NaN;
}

export interface Target {
  /** Dotted path of the figure, e.g. `service_cpu_us.stored`. */
  path: string;
  op: '>=' | '<=';
  limit: number;
}

export const met = (f: Figures, t: Target): boolean => (t.op === '>=' ? figure(f, t.path) >= t.limit : figure(f, t.path) <= t.limit);
export const targetName = (t: Target): string => `${t.path} ${t.op} ${t.limit}`;

/** Lines of the printed report: each row's median, then every run's value when there are several. */
export function table(rows: readonly [label: string, path: string, unit: string][], median: Figures, runs: readonly Figures[]): string[] {
  return rows.map(([label, path, unit]) => {
    const each = runs.length > 1 ? `  (runs: ${runs.map((r) => round(figure(r, path), 2)).join(' / ')})` : '';
    return `${label.padEnd(34)} ${String(round(figure(median, path), 2)).padStart(9)} ${unit}${each}`;
  });
}
