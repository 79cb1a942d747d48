// Explore: an entity's online features, an event's decision (the features the model saw, the
// version, the scores, the trigger firings), and a live tail of any stream (polling the
// read-back route once a second from each partition's end; stopped while the tab is hidden).
import {HttpError, getJson, readEvents, readLatest} from './api.js';
import {fmtSeconds, fmtTime} from './ui.js';

const TAIL_KEEP = 100;
const TAIL_MS = 1000;
const FIRINGS_SCAN = 1000;
let streams = [];
let tail = null;  // {stream, next: [offset per partition], rows: [], timer}

function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// A two-column table of an object's fields; values that are objects are shown as JSON.
function kvTable(obj, id) {
  const t = el('table', undefined, {class: 'grid kv', id});
  const body = el('tbody');
  for (const [k, v] of Object.entries(obj || {})) {
    const tr = el('tr', undefined, {'data-key': k});
    tr.append(el('th', k), el('td', typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v),
                               {'data-field': 'value', 'data-value': JSON.stringify(v)}));
    body.appendChild(tr);
  }
  t.appendChild(body);
  return t;
}

function fillSelect(id, names) {
  const sel = document.getElementById(id);
  const was = sel.value;
  if ([...sel.options].map((o) => o.value).join(',') === names.join(',')) return;
  sel.replaceChildren(...names.map((n) => el('option', n, {value: n})));
  if (names.includes(was)) sel.value = was;
}

async function lookupFeatures(ev) {
  ev.preventDefault();
  const view = document.getElementById('feature-view').value;
  const entity = document.getElementById('feature-entity').value;
  const out = document.getElementById('feature-result');
  try {
    const {status, json} = await getJson(
      `/v1/features/${encodeURIComponent(view)}/${encodeURIComponent(entity)}`, {}, [404]);
    if (status === 404 && json.code) throw new HttpError(404, JSON.stringify(json));
    const head = el('p', json.found ? `as of ${fmtTime(json.as_of)} (age ${fmtSeconds(json.age_ms / 1000)})`
                                    : `not found: ${json.reason || ''}`, {id: 'feature-status'});
    out.replaceChildren(head, kvTable(json.features, 'feature-values'));
    out.dataset.found = String(json.found);
  } catch (e) {
    out.replaceChildren(el('p', e.message, {class: 'error', id: 'feature-status'}));
    out.dataset.found = 'false';
  }
}

async function explain(ev) {
  ev.preventDefault();
  const stream = document.getElementById('decision-stream').value;
  const id = document.getElementById('decision-id').value;
  const out = document.getElementById('decision-result');
  try {
    const {json} = await getJson(`/v1/decisions/${encodeURIComponent(stream)}/${encodeURIComponent(id)}`);
    const parts = [];
    json.records.forEach((r, i) => {
      const box = el('div', undefined, {class: 'decision', 'data-record': String(i)});
      box.append(el('p', `${r.pipeline} / ${r.step}: model ${r.model} version ${r.version} (${r.variant}), ` +
                         `decided ${fmtTime(r.decided_at)}, entity ${r.entity}`, {class: 'decision-head'}));
      box.append(el('h4', 'Scores'), kvTable(r.scores, `decision-scores-${i}`));
      if (r.shadow && Object.keys(r.shadow).length) box.append(el('h4', 'Shadow'), kvTable(r.shadow));
      box.append(el('h4', 'Features the model saw'), kvTable(r.features, `decision-features-${i}`));
      box.dataset.version = String(r.version);
      box.dataset.model = r.model;
      parts.push(box);
    });
    parts.push(el('h4', 'Trigger firings'), await firingsFor(id));
    out.replaceChildren(...parts);
  } catch (e) {
    out.replaceChildren(el('p', e.message, {class: 'error'}));
  }
}

// Firings of an event: the outbox rows with its event id among the last FIRINGS_SCAN ones.
async function firingsFor(eventId) {
  const ob = streams.find((s) => s.name === '_outbox');
  const list = el('ul', undefined, {id: 'decision-firings'});
  if (!ob) {
    list.appendChild(el('li', 'no trigger calls an action (no _outbox)'));
    return list;
  }
  const rows = (await readLatest(ob, FIRINGS_SCAN)).filter((r) => String(r.event_id) === String(eventId));
  const dl = streams.find((s) => s.name === '_action_dead_letter');
  const dead = dl ? await readLatest(dl, FIRINGS_SCAN) : [];
  for (const r of rows) {
    const d = dead.find((x) => x.firing_id === r.firing_id);
    const li = el('li', `${r.rule} -> ${r.action} at ${fmtTime(r.fired_at)}` +
                        (d ? `: ${d.outcome} after ${d.attempts} attempts (${d.error})` : ''),
                  {'data-firing': r.firing_id});
    list.appendChild(li);
  }
  if (rows.length === 0) list.appendChild(el('li', 'none (among the latest firings)'));
  return list;
}

function stopTail() {
  if (tail && tail.timer) clearTimeout(tail.timer);
  tail = null;
  document.getElementById('tail-stop').disabled = true;
  document.getElementById('tail-status').textContent = 'stopped';
}

async function pollTail() {
  if (!tail) return;
  tail.timer = null;
  if (!document.hidden) {
    const t = tail;
    try {
      for (let p = 0; p < t.next.length; ++p) {
        const rows = await readEvents(t.stream, p, t.next[p], TAIL_KEEP);
        if (rows.length) t.next[p] = rows[rows.length - 1]._offset + 1;
        t.rows.push(...rows);
      }
      if (t.rows.length > TAIL_KEEP) t.rows.splice(0, t.rows.length - TAIL_KEEP);
      const body = document.querySelector('#tail-table tbody');
      body.replaceChildren(...t.rows.slice().reverse().map((r) => {
        const tr = el('tr', undefined, {'data-key': `${r._partition}/${r._offset}`});
        const {_partition: part, _offset: off, ...rest} = r;
        tr.append(el('td', String(part)), el('td', String(off)), el('td', JSON.stringify(rest)));
        return tr;
      }));
      document.getElementById('tail-status').textContent = `following ${t.stream}: ${t.rows.length} shown`;
    } catch (e) {
      document.getElementById('tail-status').textContent = `error: ${e.message}`;
    }
    if (tail !== t) return;
  }
  tail.timer = setTimeout(pollTail, TAIL_MS);
}

function startTail(ev) {
  ev.preventDefault();
  stopTail();
  const name = document.getElementById('tail-stream').value;
  const info = streams.find((s) => s.name === name);
  if (!info) return;
  // From the last few events of each partition, then whatever arrives.
  tail = {stream: name, next: info.partitions.map((p) => Math.max(p.start_offset, p.end_offset - 10)), rows: []};
  document.getElementById('tail-stop').disabled = false;
  pollTail();
}

export function init() {
  document.getElementById('feature-form').addEventListener('submit', lookupFeatures);
  document.getElementById('decision-form').addEventListener('submit', explain);
  document.getElementById('tail-form').addEventListener('submit', startTail);
  document.getElementById('tail-stop').addEventListener('click', stopTail);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && tail && !tail.timer) pollTail();
  });
}

let viewsLoaded = false;

export async function render(state) {
  streams = state.streams;
  const names = streams.map((s) => s.name);
  // Decision logs: streams with the decision record's fields (docs/INFERENCE.md).
  const logs = streams.filter((s) => ['scores', 'features', 'decided_at'].every(
    (f) => s.fields.some((x) => x.name === f))).map((s) => s.name);
  fillSelect('decision-stream', logs.length ? logs : names);
  fillSelect('tail-stream', names);
  if (!viewsLoaded) {
    viewsLoaded = true;
    try {
      fillSelect('feature-view', (await getJson('/v1/features')).json.views);
    } catch (e) {
      fillSelect('feature-view', []);
    }
  }
}
