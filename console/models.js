// Models: the repository's versions and states (GET /v1/models), traffic per version from
// /metrics, and the admin calls (load, unload, rescan), each after a confirm() dialog; per
// predict step, rows and score distributions by version and role (scores.js).
import {HttpError, getJson} from './api.js';
import {buckets, quantile, rate, samples, sum} from './prom.js';
import * as scores from './scores.js';
import {LineChart, cell, fillTable, fmtInt, fmtRate, fmtSeconds} from './ui.js';

const LIST_MS = 5000;
const rowsChart = new LineChart('chart-model-rows', [], {yLabel: 'rows/s'});
let list = null;  // null: not loaded; [] with `problem` set: no repository
let problem = '';
let listAt = 0;

function message(text, error = false) {
  const el = document.getElementById('models-message');
  el.textContent = text;
  el.classList.toggle('error', error);
}

async function refreshList() {
  listAt = Date.now();
  try {
    list = (await getJson('/v1/models')).json.models;
    problem = '';
  } catch (e) {
    list = [];
    problem = e instanceof HttpError && e.status === 404 ? e.message : `GET /v1/models: ${e.message}`;
  }
}

async function admin(path, what) {
  if (!window.confirm(`${what}?`)) return;
  try {
    const {json} = await getJson(path, {method: 'POST'});
    message(`${what}: ${JSON.stringify(json)}`);
  } catch (e) {
    message(`${what}: ${e.message}`, true);
  }
  await refreshList();
}

export function init() {
  scores.init();
  document.getElementById('models-rescan').addEventListener('click', () =>
    admin('/v1/models:rescan', 'Rescan the model repository'));
  document.getElementById('models-table').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-op]');
    if (!b) return;
    const {op, model, version} = b.dataset;
    admin(`/v1/models/${encodeURIComponent(model)}/versions/${version}:${op}`, `${op} ${model} version ${version}`);
  });
}

export function sample(state) {
  const {cur, prev} = state;
  const series = samples(cur.m, 'impulse_model_rows_total').map((s) => `${s.labels.model} v${s.labels.version}`);
  rowsChart.setSeries(series);
  rowsChart.push(cur.t, samples(cur.m, 'impulse_model_rows_total').map((s) =>
    rate(cur, prev, 'impulse_model_rows_total', {model: s.labels.model, version: s.labels.version})));
  scores.sample(state);
}

export async function render(state) {
  if (list === null || Date.now() - listAt >= LIST_MS) await refreshList();
  if (problem) message(problem, true);
  const {cur, prev} = state;
  const keys = list.map((r) => `${r.name}/${r.version === null ? '-' : r.version}`);
  fillTable('models-table', keys, (key) => {
    const r = list[keys.indexOf(key)];
    const v = r.version === null ? null : String(r.version);
    const match = {model: r.name, version: v || ''};
    const rows = v === null ? null : sum(cur.m, 'impulse_model_rows_total', match);
    const errors = v === null ? null : sum(cur.m, 'impulse_model_errors_total', match);
    const p99 = v === null ? null : quantile(buckets(cur.m, 'impulse_model_compute_seconds', match), 0.99);
    const actions = document.createElement('td');
    actions.dataset.field = 'actions';
    if (v !== null) {
      for (const op of r.state === 'ready' ? ['unload', 'load'] : ['load']) {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.op = op;
        b.dataset.model = r.name;
        b.dataset.version = v;
        b.textContent = op === 'load' && r.state === 'ready' ? 'reload' : op;
        actions.appendChild(b);
      }
    }
    return [
      cell('model', r.name), cell('version', v === null ? '-' : v), cell('kind', r.kind || '-'),
      cell('state', r.state), cell('rows', fmtInt(rows), rows),
      cell('rows_rate', v === null ? '-' : fmtRate(rate(cur, prev, 'impulse_model_rows_total', match))),
      cell('calls_rate', v === null ? '-' : fmtRate(rate(cur, prev, 'impulse_model_requests_total', match))),
      cell('errors', fmtInt(errors), errors), cell('compute_p99', fmtSeconds(p99)), cell('reason', r.reason || ''),
      actions,
    ];
  });
  rowsChart.draw();
  scores.render(state);
}
