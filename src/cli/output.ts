// Where the CLI writes: results to stdout (tables or JSON), messages to stderr, so scripts can
// pipe results and people still see what happened.
export interface Output {
  result(text: string): void;
  info(text: string): void;
}

export const stdio: Output = {
  result: (text) => process.stdout.write(`${text}\n`),
  info: (text) => process.stderr.write(`${text}\n`),
};

/** Prints a record as JSON or as aligned `key: value` lines. */
export function print(out: Output, json: boolean | undefined, record: Record<string, unknown>): void {
  if (json) {
    out.result(JSON.stringify(record));
    return;
  }
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [k, v] of Object.entries(record))
    out.result(`${k.padEnd(width)}  ${typeof v === 'string' ? v : JSON.stringify(v)}`);
}

/** A fixed-width table of rows (all values stringified). */
export function table(out: Output, columns: readonly string[], rows: readonly (readonly unknown[])[]): void {
  const cells = rows.map((r) => r.map((v) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  out.result(line(columns));
  for (const r of cells) out.result(line(r));
}
