import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BenchLine } from './report.js';

/** What the report says about the run besides its lines. */
export interface HtmlReportInfo {
  suite: string;
  /** The machine line the bench prints (CPU, load, node version). */
  machine: string;
  /** Runs each value is the median of. */
  runs: number;
  /** When it ran (ISO 8601). */
  at: string;
}

/**
 * A self-contained HTML page of one bench run: a chart per metric and unit with ours and the
 * peer side by side for every case, and the table of every line. The chart library (uPlot) and
 * the data are inlined, so the page needs no network when it is opened.
 */
export function renderHtmlReport(info: HtmlReportInfo, lines: readonly BenchLine[]): string {
  const require = createRequire(import.meta.url);
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  // JSON inside <script>: no '<' may close the element early.
  const data = JSON.stringify({ info, lines }).replace(/</g, '\\u003c');
  const title = `qingtian bench ${esc(info.suite)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<link rel="icon" href="data:,">
<style>${uplotCss}</style>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; }
.worse { color: #b00; }
</style>
</head>
<body>
<h1>${title}</h1>
<p id="meta"></p>
<div class="charts" id="charts"></div>
<table id="lines"><thead><tr><th>case</th><th>metric</th><th>value</th><th>peer (same run)</th><th>vs peer</th><th>runs: min–max</th></tr></thead><tbody></tbody></table>
<script id="data" type="application/json">${data}</script>
<script>${uplotJs}</script>
<script>
${CLIENT}
</script>
</body>
</html>
`;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page's own script: draws the charts and the table from the inlined data. */
const CLIENT = `(() => {
  const { info, lines } = JSON.parse(document.getElementById('data').textContent);
  const fmt = new Intl.NumberFormat('en', { maximumSignificantDigits: 4 });
  document.getElementById('meta').textContent =
    info.at + ' · ' + info.machine + ' · medians of ' + info.runs + ' run(s) · ' + lines.length + ' line(s)';
  const body = document.querySelector('#lines tbody');
  for (const l of lines) {
    const row = document.createElement('tr');
    const cells = [
      l.case,
      l.metric,
      fmt.format(l.value) + ' ' + l.unit,
      l.peer ? l.peer.name + ' ' + fmt.format(l.peer.value) + ' ' + l.unit : '',
      l.vs === undefined ? '' : fmt.format(l.vs) + '×',
      l.spread ? l.spread.runs + ': ' + fmt.format(l.spread.min) + '–' + fmt.format(l.spread.max) : '',
    ];
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      row.appendChild(td);
    }
    if (l.peer && (l.better === 'higher' ? l.value < l.peer.value : l.value > l.peer.value)) row.cells[4].className = 'worse';
    body.appendChild(row);
  }
  // One chart per metric and unit: cases along x, ours and the peer as bars side by side.
  const groups = new Map();
  for (const l of lines) {
    const key = l.metric + ' (' + l.unit + (l.better === 'lower' ? ', lower is better' : ', higher is better') + ')';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(l);
  }
  const bars = uPlot.paths.bars;
  for (const [key, ls] of groups) {
    const fig = document.createElement('figure');
    const cap = document.createElement('figcaption');
    cap.textContent = key;
    fig.appendChild(cap);
    document.getElementById('charts').appendChild(fig);
    // A case measured against several peers appears once per peer: the label names the peer then.
    const count = (c) => ls.filter((l) => l.case === c).length;
    const names = ls.map((l) => (count(l.case) > 1 && l.peer ? l.case + ' vs ' + l.peer.name : l.case));
    const xs = ls.map((_, i) => i);
    const ours = ls.map((l) => l.value);
    const peer = ls.map((l) => (l.peer ? l.peer.value : null));
    new uPlot(
      {
        width: Math.max(360, 150 * ls.length + 120),
        height: 300,
        scales: { x: { time: false, range: [-0.5, ls.length - 0.5] } },
        axes: [
          {
            values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? names[v] ?? '' : '')),
            incrs: [1],
            rotate: -12,
            size: 70,
          },
          { size: 70 },
        ],
        series: [
          {},
          { label: 'ours', fill: '#1f77b4', stroke: '#1f77b4', paths: bars({ size: [0.4, 60], align: -1 }), points: { show: false } },
          { label: 'peer', fill: '#ff7f0e', stroke: '#ff7f0e', paths: bars({ size: [0.4, 60], align: 1 }), points: { show: false } },
        ],
      },
      [xs, ours, peer],
      fig,
    );
  }
})();`;
