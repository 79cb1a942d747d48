// The Models tab's per-step parts: rows per model version and role (serving, canary, shadow)
// from impulse_predict_version_rows_total, and the distribution of the scores each (version, role)
// produced over a recent window from the histogram impulse_predict_score. The window is the
// difference between the newest scrape and the newest one at least `window` old (or the page's
// first scrape, when it opened more recently): the page keeps the score buckets of its scrapes
// for the longest window.
import uPlot from './vendor/uplot/uPlot.esm.js';
import {rate, samples} from './prom.js';
import {LineChart, cell, fillTable, fmtInt, fmtRate, fmtTime} from './ui.js';

const WINDOWS_MIN = [1, 5, 15];
const KEEP_MS = Math.max(...WINDOWS_MIN) * 60000;
// Bucket upper bounds as /metrics writes them (le), then +Inf: the header of the count table.
const BUCKET_NAMES = ['≤0', ...Array.from({length: 20}, (_, i) => `≤${((i + 1) / 20).toFixed(2)}`), '>1'];
const ROLE_ORDER = {serving: 0, canary: 1, shadow: 2};
const COLORS = {serving: '#2a6fdb', canary: '#d9480f', shadow: '#2b8a3e'};

const trafficChart = new LineChart('chart-predict-rows', [], {yLabel: 'rows/s'});
const history = [];  // [{t, series: Map key -> {labels, cum: [cumulative counts], sum}}], oldest first
const groups = new Map();  // chart group key -> {fig, chartDiv, table, plot, labels}
let windowMs = 5 * 60000;

const trafficKey = (l) => [l.pipeline, l.operator, l.model, l.version, l.role].join('/');
const groupKey = (l) => [l.pipeline, l.operator, l.model, l.output].join('/');
const seriesKey = (l) => `${l.version}/${l.role}`;
const byVersionRole = (a, b) =>
  Number(a.version) - Number(b.version) || (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9);

// The score histograms of one scrape: key (group / version / role) -> cumulative bucket counts.
function scoreSeries(m) {
  const out = new Map();
  for (const s of samples(m, 'impulse_predict_score_bucket')) {
    const {le, ...labels} = s.labels;
    const key = `${groupKey(labels)}/${seriesKey(labels)}`;
    if (!out.has(key)) out.set(key, {labels, bs: [], sum: 0});
    out.get(key).bs.push({le: le === '+Inf' ? Infinity : Number(le), count: s.value});
  }
  for (const s of samples(m, 'impulse_predict_score_sum')) {
    const e = out.get(`${groupKey(s.labels)}/${seriesKey(s.labels)}`);
    if (e) e.sum = s.value;
  }
  for (const e of out.values()) {
    e.bs.sort((x, y) => x.le - y.le);
    e.cum = e.bs.map((b) => b.count);
    delete e.bs;
  }
  return out;
}

// Per-bucket (not cumulative) counts from cumulative ones.
function perBucket(cum) {
  return cum.map((c, i) => (i === 0 ? c : c - cum[i - 1]));
}

// The scores of one series between `base` and `now` (a counter reset counts from zero).
function windowCounts(now, base) {
  const a = perBucket(now.cum);
  if (!base || base.cum.length !== now.cum.length) return {counts: a, sum: now.sum};
  const b = perBucket(base.cum);
  if (a.some((c, i) => c < b[i])) return {counts: a, sum: now.sum};
  return {counts: a.map((c, i) => c - b[i]), sum: now.sum - base.sum};
}

export function init() {
  const sel = document.getElementById('scores-window');
  for (const min of WINDOWS_MIN) {
    const o = document.createElement('option');
    o.value = String(min);
    o.textContent = `last ${min} min`;
    o.selected = min * 60000 === windowMs;
    sel.appendChild(o);
  }
  sel.addEventListener('change', () => {
    windowMs = Number(sel.value) * 60000;
  });
}

export function sample(state) {
  const {cur, prev} = state;
  history.push({t: cur.t, series: scoreSeries(cur.m)});
  // Keep the newest scrape at least KEEP_MS old: the baseline of the longest window.
  while (history.length > 2 && history[1].t <= cur.t - KEEP_MS) history.shift();
  const traffic = samples(cur.m, 'impulse_predict_version_rows_total').map((s) => s.labels);
  trafficChart.setSeries(traffic.map((l) => `${l.pipeline}/${l.operator} ${l.model} v${l.version} ${l.role}`));
  trafficChart.push(cur.t, traffic.map((l) => rate(cur, prev, 'impulse_predict_version_rows_total', l)));
}

function renderTraffic(state) {
  const {cur, prev} = state;
  const all = samples(cur.m, 'impulse_predict_version_rows_total');
  fillTable('predict-traffic-table', all.map((s) => trafficKey(s.labels)), (key) => {
    const s = all.find((x) => trafficKey(x.labels) === key);
    const l = s.labels;
    return [
      cell('pipeline', l.pipeline), cell('operator', l.operator), cell('model', l.model), cell('version', l.version),
      cell('role', l.role), cell('rows', fmtInt(s.value), s.value),
      cell('rows_rate', fmtRate(rate(cur, prev, 'impulse_predict_version_rows_total', l)),
        rate(cur, prev, 'impulse_predict_version_rows_total', l)),
    ];
  });
  document.getElementById('predict-traffic-none').hidden = all.length > 0;
  trafficChart.draw();
}

// The figure of one (pipeline, step, model, output): a step chart of each series' share of its
// scores per bucket, and the counts per bucket.
function groupFigure(key, labels) {
  if (groups.has(key)) return groups.get(key);
  const fig = document.createElement('figure');
  fig.className = 'score-dist';
  fig.dataset.group = key;
  const cap = document.createElement('figcaption');
  cap.textContent = `${labels.pipeline} / ${labels.operator}: model ${labels.model}, output ${labels.output}: ` +
    'share of scores per bucket (%)';
  const chartDiv = document.createElement('div');
  const table = document.createElement('table');
  table.className = 'grid score-dist';
  table.dataset.group = key;
  const head = document.createElement('tr');
  for (const h of ['version', 'role', 'scores', 'mean', ...BUCKET_NAMES]) {
    const th = document.createElement('th');
    th.textContent = h;
    head.appendChild(th);
  }
  table.createTHead().appendChild(head);
  table.createTBody();
  fig.append(cap, chartDiv, table);
  document.getElementById('score-dists').appendChild(fig);
  const g = {fig, chartDiv, table, plot: null, labels: []};
  groups.set(key, g);
  return g;
}

function drawChart(g, rows) {
  const labels = rows.map((r) => `v${r.labels.version} ${r.labels.role}`);
  // Bucket i spans [i, i + 1] on the x axis; the bound after it is at i + 1.
  const xs = Array.from({length: BUCKET_NAMES.length + 1}, (_, i) => i);
  const data = [xs, ...rows.map((r) => {
    const total = r.counts.reduce((a, c) => a + c, 0);
    const shares = r.counts.map((c) => (total > 0 ? (100 * c) / total : null));
    return [...shares, shares[shares.length - 1]];
  })];
  if (g.plot && labels.join('\u0000') !== g.labels.join('\u0000')) {
    g.plot.destroy();
    g.plot = null;
  }
  if (g.chartDiv.offsetParent === null) return;  // not shown
  if (!g.plot) {
    g.labels = labels;
    const tickAt = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21];
    g.plot = new uPlot({
      width: Math.max(320, g.chartDiv.clientWidth || 480),
      height: 180,
      legend: {show: true},
      scales: {x: {time: false, range: [0, BUCKET_NAMES.length]}, y: {range: [0, 100]}},
      axes: [
        {splits: () => tickAt, values: (u, splits) => splits.map((v) => String((v - 1) / 20))},
        {label: '% of scores', size: 50},
      ],
      series: [
        {label: 'bucket', value: (u, v) => (v === null ? '-' : BUCKET_NAMES[Math.floor(v)] || '')},
        ...rows.map((r, i) => {
          const s = {label: labels[i], stroke: COLORS[r.labels.role] || '#862e9c', width: 1.5,
            paths: uPlot.paths.stepped({align: 1}), points: {show: false}};
          // A role's colour; its second and later versions (several shadows) dashed.
          if (rows.slice(0, i).some((o) => o.labels.role === r.labels.role)) s.dash = [6, 3];
          return s;
        }),
      ],
    }, data, g.chartDiv);
  } else {
    g.plot.setData(data);
  }
}

function renderScores() {
  const now = history[history.length - 1];
  if (!now) return;
  // The baseline: the newest scrape at least windowMs old, else the first one kept.
  let base = history[0];
  for (const h of history) {
    if (h.t <= now.t - windowMs) base = h;
  }
  const note = document.getElementById('scores-window-note');
  note.textContent = base.t <= now.t - windowMs ? `from ${fmtTime(base.t)} to ${fmtTime(now.t)} (UTC)` :
    `since ${fmtTime(base.t)} (UTC), the page's first scrape kept: less than the window`;
  note.dataset.from = String(base.t);
  const byGroup = new Map();
  for (const [key, s] of now.series) {
    const gk = groupKey(s.labels);
    if (!byGroup.has(gk)) byGroup.set(gk, []);
    byGroup.get(gk).push({labels: s.labels, ...windowCounts(s, base.series.get(key))});
  }
  for (const [gk, g] of groups) {
    if (!byGroup.has(gk)) {
      g.plot?.destroy();
      g.fig.remove();
      groups.delete(gk);
    }
  }
  for (const [gk, rows] of [...byGroup].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    rows.sort((a, b) => byVersionRole(a.labels, b.labels));
    const g = groupFigure(gk, rows[0].labels);
    const keys = rows.map((r) => seriesKey(r.labels));
    const tbody = g.table.tBodies[0];
    tbody.replaceChildren(...rows.map((r, i) => {
      const tr = document.createElement('tr');
      tr.dataset.key = keys[i];
      const total = r.counts.reduce((a, c) => a + c, 0);
      const mean = total > 0 ? r.sum / total : null;
      tr.append(cell('version', r.labels.version), cell('role', r.labels.role), cell('scores', fmtInt(total), total),
        cell('mean', mean === null ? '-' : mean.toPrecision(3), mean),
        ...r.counts.map((c, b) => cell(`b${b}`, fmtInt(c), c)));
      return tr;
    }));
    drawChart(g, rows);
  }
  document.getElementById('score-dists-none').hidden = byGroup.size > 0;
}

export function render(state) {
  renderTraffic(state);
  renderScores();
}
