// The dashboard's script (served as is, no build step): reads /host once, then draws every
// `sample` event of /events (server-sent events) into the tables and two uPlot charts.
/* global uPlot */
const POINTS = 120;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

const fmt = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const el = (id) => document.getElementById(id);

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = String(text);
  row.appendChild(td);
  return td;
}

function chart(target, cores, yLabel) {
  const series = [{}];
  for (let i = 0; i < cores; i++) series.push({ label: `core ${i}`, stroke: COLORS[i % COLORS.length], width: 2 });
  const data = [[], ...Array.from({ length: cores }, () => [])];
  const plot = new uPlot(
    { width: 480, height: 220, series, axes: [{}, { label: yLabel, size: 90 }], scales: { x: { time: true } } },
    data,
    target,
  );
  return {
    push(t, values) {
      data[0].push(t);
      values.forEach((v, i) => data[i + 1].push(v));
      if (data[0].length > POINTS) for (const d of data) d.shift();
      plot.setData(data);
    },
  };
}

function drawCores(cores) {
  const body = el('cores').tBodies[0];
  body.replaceChildren();
  for (const c of cores) {
    const row = document.createElement('tr');
    row.dataset.core = String(c.id);
    cell(row, c.id);
    cell(row, `${fmt.format(c.busyRatio * 100)} %`).className = 'busy';
    cell(row, fmt.format(c.itemsPerSecond)).className = 'items-per-second';
    cell(row, fmt.format(c.burstsPerSecond));
    cell(row, c.items).className = 'items';
    cell(row, c.sleeps);
    body.appendChild(row);
  }
}

function drawJobs(jobs) {
  const body = el('jobs').tBodies[0];
  body.replaceChildren();
  for (const j of jobs) {
    const row = document.createElement('tr');
    row.dataset.job = j.name;
    cell(row, j.name);
    cell(row, j.spec.core);
    cell(row, j.status);
    cell(row, j.linesWritten).className = 'lines';
    cell(row, j.passes);
    body.appendChild(row);
  }
}

function drawVms(vms) {
  const body = el('vms').tBodies[0];
  body.replaceChildren();
  for (const v of vms) {
    const row = document.createElement('tr');
    row.dataset.vm = v.name;
    cell(row, v.name);
    cell(row, v.state).className = 'state';
    cell(row, v.vcpus);
    cell(row, `${v.memoryMiB} MiB`);
    cell(row, fmt.format(v.rxBytesPerSecond)).className = 'rx';
    cell(row, fmt.format(v.txBytesPerSecond)).className = 'tx';
    body.appendChild(row);
  }
}

function drawPorts(network) {
  el('flows').textContent = String(network.flows);
  const body = el('ports').tBodies[0];
  body.replaceChildren();
  for (const [name, p] of Object.entries(network.ports)) {
    const row = document.createElement('tr');
    row.dataset.port = name;
    cell(row, name);
    cell(row, fmt.format(p.inBytesPerSecond)).className = 'in';
    cell(row, fmt.format(p.outBytesPerSecond)).className = 'out';
    cell(row, p.inPackets).className = 'in-packets';
    cell(row, p.outPackets);
    body.appendChild(row);
  }
}

async function main() {
  const host = await (await fetch('/host')).json();
  el('host').textContent =
    `qingtian ${host.version}, pid ${host.pid}: ${host.cores} DPU core(s), ` +
    `${fmt.format(host.memory.totalBytes / 2 ** 20)} MiB host memory, resources: ${host.resources.join(', ')}`;
  const busy = chart(el('busy-chart'), host.cores, 'busy ratio');
  const items = chart(el('items-chart'), host.cores, 'items/s');
  let samples = 0;
  const events = new EventSource('/events');
  events.addEventListener('open', () => (el('status').textContent = 'live'));
  events.addEventListener('error', () => (el('status').textContent = 'disconnected; retrying'));
  events.addEventListener('sample', (e) => {
    const s = JSON.parse(e.data);
    const t = s.at / 1000;
    busy.push(
      t,
      s.cores.map((c) => c.busyRatio),
    );
    items.push(
      t,
      s.cores.map((c) => c.itemsPerSecond),
    );
    drawCores(s.cores);
    if (s.jobs) drawJobs(s.jobs);
    if (s.vms) drawVms(s.vms);
    if (s.network) drawPorts(s.network);
    if (s.swaps) {
      el('swaps').textContent = Object.entries(s.swaps)
        .map(([k, v]) => `${k}: ${v}`)
        .join(' · ');
    }
    el('samples').textContent = String(++samples);
  });
}

main().catch((e) => {
  el('status').textContent = `error: ${e.message}`;
  throw e;
});
