import type { SlowdownBin } from './metrics.js';

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const MARKS = ['circle', 'square', 'triangle', 'diamond', 'circle', 'square'] as const;

/** 1000 -> "1K", 2500000 -> "2.5M". */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1e6) return `${+(bytes / 1e6).toPrecision(2)}M`;
  if (bytes >= 1e3) return `${+(bytes / 1e3).toPrecision(2)}K`;
  return String(bytes);
}

/**
 * FCT slowdown by flow size, drawn the way the HPCC paper's FCT figures are: flows sorted by
 * size in 20 equal-count bins along a categorical x axis labelled with each bin's largest size,
 * one line with markers per algorithm, one panel per percentile (median, 95th, 99th).
 */
export function slowdownSvg(title: string, series: { name: string; bins: SlowdownBin[] }[]): string {
  const panels: { key: 'p50' | 'p95' | 'p99'; label: string }[] = [
    { key: 'p50', label: 'median FCT slowdown' },
    { key: 'p95', label: '95th-pct FCT slowdown' },
    { key: 'p99', label: '99th-pct FCT slowdown' },
  ];
  const W = 760;
  const PH = 230;
  const top = 40;
  const left = 60;
  const right = 150;
  const plotW = W - left - right;
  const H = top + panels.length * (PH + 50) + 10;
  const nb = Math.max(1, ...series.map((s) => s.bins.length));
  const ref = series.find((s) => s.bins.length === nb)?.bins ?? [];
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  panels.forEach((panel, pi) => {
    const y0 = top + pi * (PH + 50);
    const vals = series.flatMap((s) => s.bins.map((b) => b[panel.key])).filter((v) => Number.isFinite(v));
    const ymax = niceMax(Math.max(2, ...vals));
    const ymin = 1;
    const xs = (i: number) => left + ((i + 0.5) * plotW) / nb;
    const ys = (v: number) => y0 + PH - ((Math.min(v, ymax) - ymin) / (ymax - ymin)) * PH;
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${PH}" fill="none" stroke="#333"/>`);
    for (const t of ticks(ymin, ymax)) {
      out.push(
        `<line x1="${left}" x2="${left + plotW}" y1="${ys(t).toFixed(1)}" y2="${ys(t).toFixed(1)}" stroke="#ddd"/>`,
      );
      out.push(`<text x="${left - 6}" y="${(ys(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
    }
    out.push(`<text transform="translate(16 ${y0 + PH / 2}) rotate(-90)" text-anchor="middle">${panel.label}</text>`);
    ref.forEach((b, i) => {
      out.push(
        `<text transform="translate(${xs(i).toFixed(1)} ${y0 + PH + 12}) rotate(-45)" text-anchor="end" font-size="9">${sizeLabel(b.maxSize)}</text>`,
      );
    });
    if (pi === panels.length - 1)
      out.push(
        `<text x="${left + plotW / 2}" y="${y0 + PH + 44}" text-anchor="middle">flow size (bytes), 20 equal-count bins, upper edge</text>`,
      );
    series.forEach((s, si) => {
      const color = COLORS[si % COLORS.length]!;
      const pts = s.bins.map((b, i) => [xs(i), ys(b[panel.key])] as const).filter(([, y]) => Number.isFinite(y));
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`,
      );
      for (const [x, y] of pts) out.push(marker(MARKS[si % MARKS.length]!, x, y, color));
      const ly = y0 + 14 + si * 16;
      out.push(marker(MARKS[si % MARKS.length]!, left + plotW + 16, ly - 4, color));
      out.push(`<text x="${left + plotW + 26}" y="${ly}">${esc(s.name)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function marker(kind: (typeof MARKS)[number], x: number, y: number, color: string): string {
  const X = x.toFixed(1);
  const Y = y.toFixed(1);
  switch (kind) {
    case 'circle':
      return `<circle cx="${X}" cy="${Y}" r="3" fill="${color}"/>`;
    case 'square':
      return `<rect x="${(x - 3).toFixed(1)}" y="${(y - 3).toFixed(1)}" width="6" height="6" fill="${color}"/>`;
    case 'triangle':
      return `<polygon points="${X},${(y - 4).toFixed(1)} ${(x - 3.5).toFixed(1)},${(y + 3).toFixed(1)} ${(x + 3.5).toFixed(1)},${(y + 3).toFixed(1)}" fill="${color}"/>`;
    case 'diamond':
      return `<polygon points="${X},${(y - 4).toFixed(1)} ${(x + 4).toFixed(1)},${Y} ${X},${(y + 4).toFixed(1)} ${(x - 4).toFixed(1)},${Y}" fill="${color}"/>`;
    default: {
      const never: never = kind;
      return String(never);
    }
  }
}

function niceMax(v: number): number {
  for (const m of [2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200, 500, 1000]) if (v <= m) return m;
  return Math.ceil(v / 1000) * 1000;
}

function ticks(lo: number, hi: number): number[] {
  const span = hi - lo;
  const step =
    span <= 2 ? 0.25 : span <= 5 ? 0.5 : span <= 10 ? 1 : span <= 20 ? 2 : span <= 50 ? 5 : Math.ceil(span / 10);
  const out: number[] = [];
  for (let t = lo; t <= hi + 1e-9; t += step) out.push(+t.toFixed(2));
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
