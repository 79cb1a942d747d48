// Formatting, table rows and charts shared by the pages. Values from the engine are put in the
// DOM as text (textContent), never as markup.
import uPlot from './vendor/uplot/uPlot.esm.js';

export function fmtInt(n) {
  return n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US');
}

export function fmtRate(r) {
  if (r === null || r === undefined || !isFinite(r)) return '-';
  return r >= 100 ? Math.round(r).toLocaleString('en-US') : r.toFixed(1);
}

export function fmtSeconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return '-';
  const a = Math.abs(s);
  if (a < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (a < 1) return `${(s * 1e3).toFixed(a < 0.01 ? 2 : 1)} ms`;
  if (a < 120) return `${s.toFixed(2)} s`;
  if (a < 7200) return `${(s / 60).toFixed(1)} min`;
  if (a < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function fmtBytes(b) {
  if (b === null || b === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    ++i;
  }
  return `${i === 0 ? b : b.toFixed(1)} ${units[i]}`;
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '-';
  const d = new Date(typeof ms === 'number' ? ms : String(ms));
  return isNaN(d.getTime()) ? String(ms) : d.toISOString().replace('T', ' ').replace('Z', '');
}

// A cell: shown text, and the raw number (data-value) for scripts and tests.
export function cell(field, text, raw) {
  const td = document.createElement('td');
  td.dataset.field = field;
  if (raw !== undefined && raw !== null) td.dataset.value = String(raw);
  td.textContent = text;
  return td;
}

// Replaces a table's body with rows built by `build(key) -> [td...]`, keyed by data-key.
export function fillTable(tableId, keys, build) {
  const tbody = document.querySelector(`#${tableId} tbody`);
  const rows = keys.map((k) => {
    const tr = document.createElement('tr');
    tr.dataset.key = k;
    for (const td of build(k)) tr.appendChild(td);
    return tr;
  });
  tbody.replaceChildren(...rows);
}

export function setText(id, text, raw) {
  const el = document.getElementById(id);
  el.textContent = text;
  if (raw !== undefined && raw !== null) el.dataset.value = String(raw);
}

// A line chart over the last `keep` points; created on first draw (a hidden page has no width).
export class LineChart {
  constructor(elId, labels, {keep = 300, yLabel = ''} = {}) {
    this.elId = elId;
    this.keep = keep;
    this.yLabel = yLabel;
    this.setSeries(labels);
  }

  setSeries(labels) {
    if (this.labels && labels.join('\u0000') === this.labels.join('\u0000')) return;
    const old = this.labels || [];
    const oldData = this.data;
    this.labels = labels;
    this.data = [oldData ? oldData[0].slice() : []];
    for (const l of labels) {
      const i = old.indexOf(l);
      this.data.push(i >= 0 ? oldData[i + 1].slice() : this.data[0].map(() => null));
    }
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
  }

  push(tMs, values) {
    this.data[0].push(tMs / 1000);
    values.forEach((v, i) => this.data[i + 1].push(v === undefined ? null : v));
    if (this.data[0].length > this.keep) for (const a of this.data) a.shift();
  }

  draw() {
    const el = document.getElementById(this.elId);
    if (!el || el.offsetParent === null) return;  // not shown
    if (!this.plot) {
      const colors = ['#2a6fdb', '#d9480f', '#2b8a3e', '#862e9c', '#e67700', '#0b7285', '#c2255c', '#5f3dc4'];
      const opts = {
        width: Math.max(320, el.clientWidth || 480),
        height: 180,
        legend: {show: true},
        scales: {x: {time: true}},
        axes: [{}, {label: this.yLabel, size: 60}],
        series: [{}, ...this.labels.map((l, i) => ({label: l, stroke: colors[i % colors.length], width: 1.5}))],
      };
      this.plot = new uPlot(opts, this.data, el);
    } else {
      this.plot.setData(this.data);
    }
  }
}
