// A hand-written SVG of one benchmark run: rates side by side (store, drain) for Prosody's offline
// storage and sealpost, and the cumulative count over time for each phase. No chart library: a
// few rectangles, polylines and text elements, readable in any browser.

export interface Series {
  label: string;
  color: string;
  /** ms at which each message counted (any order). */
  times: readonly number[];
}

export interface ChartInput {
  title: string;
  subtitle: string;
  bars: { group: string; values: { label: string; color: string; value: number }[] }[];
  store: Series[];
  drain: Series[];
}

const W = 960;
const PANEL_H = 260;
const FONT = 'font-family="system-ui, sans-serif"';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number): string => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));

/** A "nice" axis maximum ≥ x: 1, 2 or 5 times a power of ten. */
function niceMax(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  return ([1, 2, 5, 10].find((m) => m * p >= x) ?? 10) * p;
}

function text(x: number, y: number, s: string, extra = '', size = 12): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT} font-size="${size}" ${extra}>${esc(s)}</text>`;
}

function barPanel(top: number, left: number, width: number, input: ChartInput['bars']): string {
  const h = PANEL_H - 60;
  const max = niceMax(Math.max(...input.flatMap((g) => g.values.map((v) => v.value))));
  const out: string[] = [text(left, top + 14, 'messages per second (higher is better)', 'font-weight="bold"')];
  const y0 = top + 30 + h;
  for (let i = 0; i <= 4; i++) {
    const y = y0 - (h * i) / 4;
    out.push(`<line x1="${left + 40}" x2="${left + width}" y1="${y}" y2="${y}" stroke="#ddd"/>`, text(left, y + 4, fmt((max * i) / 4), 'fill="#666"'));
  }
  const groupW = (width - 50) / input.length;
  input.forEach((g, gi) => {
    const barW = Math.min(60, (groupW - 30) / g.values.length);
    const gx = left + 50 + gi * groupW + (groupW - barW * g.values.length) / 2;
    g.values.forEach((v, vi) => {
      const bh = (h * Math.min(v.value, max)) / max;
      const x = gx + vi * barW;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${(y0 - bh).toFixed(1)}" width="${(barW - 6).toFixed(1)}" height="${bh.toFixed(1)}" fill="${v.color}"><title>${esc(`${v.label}: ${fmt(v.value)}/s`)}</title></rect>`,
        text(x + (barW - 6) / 2, y0 - bh - 4, fmt(v.value), 'text-anchor="middle"', 11),
      );
    });
    out.push(text(gx + (barW * g.values.length) / 2, y0 + 16, g.group, 'text-anchor="middle"'));
  });
  return out.join('\n');
}

function linePanel(top: number, left: number, width: number, title: string, series: Series[]): string {
  const h = PANEL_H - 60;
  const sorted = series.map((s) => [...s.times].sort((a, b) => a - b));
  const maxT = niceMax(Math.max(1, ...sorted.map((t) => t.at(-1) ?? 0)));
  const maxN = niceMax(Math.max(1, ...sorted.map((t) => t.length)));
  const x0 = left + 50;
  const y0 = top + 30 + h;
  const pw = width - 60;
  const out: string[] = [text(left, top + 14, title, 'font-weight="bold"')];
  for (let i = 0; i <= 4; i++) {
    const y = y0 - (h * i) / 4;
    const x = x0 + (pw * i) / 4;
    out.push(
      `<line x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      text(left, y + 4, fmt((maxN * i) / 4), 'fill="#666"'),
      text(x, y0 + 16, `${fmt((maxT * i) / 4 / 1000)} s`, 'text-anchor="middle" fill="#666"'),
    );
  }
  sorted.forEach((times, si) => {
    const s = series[si] as Series;
    const step = Math.max(1, Math.floor(times.length / 400)); // at most ~400 points per line
    const pts = [`${x0},${y0}`];
    for (let i = 0; i < times.length; i += step) pts.push(`${(x0 + (pw * (times[i] as number)) / maxT).toFixed(1)},${(y0 - (h * (i + 1)) / maxN).toFixed(1)}`);
    const last = times.at(-1);
    if (last !== undefined) pts.push(`${(x0 + (pw * last) / maxT).toFixed(1)},${(y0 - (h * times.length) / maxN).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    // Legend in the lower right, which rising cumulative lines leave empty.
    const ly = y0 - 12 - (series.length - si) * 18;
    out.push(`<rect x="${x0 + pw - 250}" y="${ly}" width="12" height="12" fill="${s.color}"/>`, text(x0 + pw - 232, ly + 11, s.label));
  });
  return out.join('\n');
}

/** The whole chart as an SVG document. */
export function renderChart(input: ChartInput): string {
  const half = (W - 60) / 2;
  const height = 70 + PANEL_H * 2;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    text(20, 26, input.title, 'font-weight="bold"', 18),
    text(20, 46, input.subtitle, 'fill="#555"'),
    barPanel(60, 20, half, input.bars),
    linePanel(60, 40 + half, half, 'stored over time (messages, seconds)', input.store),
    linePanel(60 + PANEL_H, 20, W - 40, 'drained over time: presence → each message at the application', input.drain),
    '</svg>',
    '',
  ].join('\n');
}
