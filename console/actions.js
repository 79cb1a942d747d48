// Actions: per action counters from /metrics; the latest firings (_outbox) and dead letters
// (_action_dead_letter) read back through GET /v1/streams/{s}/events, re-read only when their
// end offsets move.
import {readLatest} from './api.js';
import {sum, value} from './prom.js';
import {cell, fillTable, fmtInt, fmtTime} from './ui.js';

const LATEST = 20;
let seenEnds = '';
let firings = [];
let deadLetters = [];

export function actionNames(m) {
  return [...new Set((m.get('impulse_action_pending') || []).map((s) => s.labels.action))];
}

function endsOf(m, stream) {
  return sum(m, 'impulse_log_end_offset', {stream}) ?? 0;
}

export async function render(state) {
  const m = state.cur.m;
  fillTable('actions-table', actionNames(m), (a) => {
    const v = (name) => value(m, name, {action: a});
    const breaker = v('impulse_action_breaker_open');
    return [
      cell('action', a), cell('pending', fmtInt(v('impulse_action_pending')), v('impulse_action_pending')),
      cell('inflight', fmtInt(v('impulse_action_inflight')), v('impulse_action_inflight')),
      cell('delivered', fmtInt(v('impulse_action_delivered_total')), v('impulse_action_delivered_total')),
      cell('attempts', fmtInt(v('impulse_action_attempts_total')), v('impulse_action_attempts_total')),
      cell('retries', fmtInt(v('impulse_action_retries_total')), v('impulse_action_retries_total')),
      cell('failures', fmtInt(v('impulse_action_failures_total')), v('impulse_action_failures_total')),
      cell('dead_lettered', fmtInt(v('impulse_action_dead_lettered_total')), v('impulse_action_dead_lettered_total')),
      cell('breaker', breaker === null ? '-' : (breaker ? 'open' : 'closed'), breaker),
    ];
  });
  const ends = `${endsOf(m, '_outbox')}/${endsOf(m, '_action_dead_letter')}`;
  if (ends !== seenEnds) {
    const find = (n) => state.streams.find((s) => s.name === n);
    firings = find('_outbox') ? await readLatest(find('_outbox'), LATEST) : [];
    deadLetters = find('_action_dead_letter') ? await readLatest(find('_action_dead_letter'), LATEST) : [];
    firings.sort((a, b) => String(a.fired_at).localeCompare(String(b.fired_at)));
    deadLetters.sort((a, b) => String(a.failed_at).localeCompare(String(b.failed_at)));
    seenEnds = ends;
  }
  const outcome = new Map(deadLetters.map((d) => [d.firing_id, d.outcome]));
  const f = firings.slice().reverse();
  fillTable('firings-table', f.map((r) => `${r._partition}/${r._offset}`), (k) => {
    const r = f.find((x) => `${x._partition}/${x._offset}` === k);
    return [
      cell('firing_id', r.firing_id), cell('rule', r.rule), cell('action', r.action), cell('pipeline', r.pipeline),
      cell('fired_at', fmtTime(r.fired_at)),
      cell('outcome', outcome.has(r.firing_id) ? outcome.get(r.firing_id).replace('_', ' ') : 'delivered or pending'),
      cell('payload', r.payload),
    ];
  });
  const d = deadLetters.slice().reverse();
  fillTable('dead-letters-table', d.map((r) => `${r._partition}/${r._offset}`), (k) => {
    const r = d.find((x) => `${x._partition}/${x._offset}` === k);
    return [
      cell('firing_id', r.firing_id), cell('action', r.action), cell('outcome', r.outcome),
      cell('attempts', fmtInt(r.attempts), r.attempts), cell('http_status', String(r.http_status), r.http_status),
      cell('failed_at', fmtTime(r.failed_at)), cell('error', r.error),
    ];
  });
}
