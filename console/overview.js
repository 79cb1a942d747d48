// Overview: streams, pipelines, stage latencies, checkpoints, the engine process.
import {buckets, bucketDelta, quantile, rate, samples, sum, value} from './prom.js';
import {LineChart, cell, fillTable, fmtBytes, fmtInt, fmtRate, fmtSeconds, fmtTime, setText} from './ui.js';

const CHART_STAGES = ['ingest_to_durable', 'ingest_to_output', 'pipeline_batch'];
const rateChart = new LineChart('chart-rate', ['events in/s'], {yLabel: 'events/s'});
const processChart = new LineChart('chart-process', ['CPU %', 'RSS MiB']);
const stageCharts = new Map();

export function init() {
  const holder = document.getElementById('stage-charts');
  for (const stage of CHART_STAGES) {
    const fig = document.createElement('figure');
    const cap = document.createElement('figcaption');
    cap.textContent = `${stage}: p50 and p99 per second (ms)`;
    const div = document.createElement('div');
    div.id = `chart-stage-${stage}`;
    fig.append(cap, div);
    holder.appendChild(fig);
    stageCharts.set(stage, new LineChart(div.id, ['p50 ms', 'p99 ms'], {yLabel: 'ms'}));
  }
}

// Pipelines from impulse_pipeline_info: {name, source, source2, sink}.
export function pipelines(m) {
  return samples(m, 'impulse_pipeline_info').map((s) => ({
    name: s.labels.pipeline, source: s.labels.source, source2: s.labels.source2 || '', sink: s.labels.sink,
  }));
}

export function sample(state) {
  const {cur, prev} = state;
  rateChart.push(cur.t, [rate(cur, prev, 'impulse_events_in_total')]);
  const cpu = rate(cur, prev, 'process_cpu_seconds_total');
  const rss = value(cur.m, 'process_resident_memory_bytes');
  processChart.push(cur.t, [cpu === null ? null : cpu * 100, rss === null ? null : rss / 1048576]);
  for (const stage of CHART_STAGES) {
    const now = buckets(cur.m, 'impulse_stage_latency_seconds', {stage});
    const before = prev ? buckets(prev.m, 'impulse_stage_latency_seconds', {stage}) : null;
    const d = bucketDelta(now, before);
    const p50 = quantile(d, 0.5);
    const p99 = quantile(d, 0.99);
    stageCharts.get(stage).push(cur.t, [p50 === null ? null : p50 * 1e3, p99 === null ? null : p99 * 1e3]);
  }
}

export function render(state) {
  const {cur, prev, streams} = state;
  const m = cur.m;
  const pls = pipelines(m);
  const readers = (s) => pls.filter((p) => p.source === s || p.source2 === s);
  fillTable('streams-table', streams.map((s) => s.name), (name) => {
    const info = streams.find((s) => s.name === name);
    const ends = samples(m, 'impulse_log_end_offset', {stream: name});
    const end = ends.reduce((a, s) => a + s.value, 0);
    const perPartition = ends.map((s) => `p${s.labels.partition}: ${fmtInt(s.value)}`).join(', ');
    const inTotal = sum(m, 'impulse_events_in_total', {stream: name});
    let out = null;
    let late = null;
    for (const p of readers(name)) {
      const r = rate(cur, prev, 'impulse_pipeline_events_in_total', {pipeline: p.name});
      const l = rate(cur, prev, 'impulse_late_events_total', {pipeline: p.name});
      if (r !== null) out = (out || 0) + r;
      if (l !== null) late = (late || 0) + l;
    }
    const dead = sum(m, 'impulse_events_rejected_total', {stream: name});
    const endCell = cell('end_offset', fmtInt(end), end);
    endCell.title = perPartition;
    return [
      cell('name', name), cell('partitions', String(info.partitions.length), info.partitions.length), endCell,
      cell('events_in', fmtInt(inTotal), inTotal),
      cell('rate_in', fmtRate(rate(cur, prev, 'impulse_events_in_total', {stream: name}))),
      cell('rate_out', readers(name).length ? fmtRate(out) : '-'),
      cell('dead_letters', fmtInt(dead), dead),
      cell('dead_letters_rate', fmtRate(rate(cur, prev, 'impulse_events_rejected_total', {stream: name}))),
      cell('late_rate', readers(name).length ? fmtRate(late) : '-'),
    ];
  });
  fillTable('pipelines-table', pls.map((p) => p.name), (name) => {
    const p = pls.find((x) => x.name === name);
    const wm = value(m, 'impulse_pipeline_watermark_ms', {pipeline: name});
    const lag = value(m, 'impulse_pipeline_lag_events', {pipeline: name});
    const inTotal = value(m, 'impulse_pipeline_events_in_total', {pipeline: name});
    const late = value(m, 'impulse_late_events_total', {pipeline: name});
    const failed = value(m, 'impulse_pipeline_tasks_failed', {pipeline: name});
    const wmCell = cell('watermark_delay', wm === null ? '-' : fmtSeconds((cur.t - wm) / 1000), wm);
    if (wm !== null) wmCell.title = `watermark ${fmtTime(wm)}`;
    return [
      cell('name', name), cell('source', p.source2 ? `${p.source} + ${p.source2}` : p.source),
      cell('sink', p.sink), cell('events_in', fmtInt(inTotal), inTotal),
      cell('rate_in', fmtRate(rate(cur, prev, 'impulse_pipeline_events_in_total', {pipeline: name}))),
      cell('rate_out', fmtRate(rate(cur, prev, 'impulse_pipeline_events_out_total', {pipeline: name}))),
      cell('lag', fmtInt(lag), lag), wmCell, cell('late_events', fmtInt(late), late),
      cell('tasks_failed', fmtInt(failed), failed),
    ];
  });
  const stages = [...new Set(samples(m, 'impulse_stage_latency_seconds_count').map((s) => s.labels.stage))];
  fillTable('stages-table', stages, (stage) => {
    const bs = buckets(m, 'impulse_stage_latency_seconds', {stage});
    const count = value(m, 'impulse_stage_latency_seconds_count', {stage});
    const q = (x) => quantile(bs, x);
    return [
      cell('stage', stage), cell('count', fmtInt(count), count), cell('p50', fmtSeconds(q(0.5)), q(0.5)),
      cell('p99', fmtSeconds(q(0.99)), q(0.99)), cell('p999', fmtSeconds(q(0.999)), q(0.999)),
    ];
  });

  const lastId = value(m, 'impulse_checkpoint_last_id');
  setText('ckpt-last-id', lastId === null || lastId < 0 ? 'none' : String(lastId), lastId);
  const lastAt = value(m, 'impulse_checkpoint_last_completed_seconds');
  setText('ckpt-last-at', lastAt ? `${fmtTime(lastAt * 1000)} (${fmtSeconds(cur.t / 1000 - lastAt)} ago)` : '-',
          lastAt);
  const dur = value(m, 'impulse_checkpoint_last_duration_seconds');
  setText('ckpt-duration', lastAt ? fmtSeconds(dur) : '-', dur);
  const pause = value(m, 'impulse_checkpoint_last_pause_seconds');
  setText('ckpt-pause', lastAt ? fmtSeconds(pause) : '-', pause);
  const bytes = value(m, 'impulse_checkpoint_last_bytes');
  setText('ckpt-bytes', lastAt ? fmtBytes(bytes) : '-', bytes);
  const done = value(m, 'impulse_checkpoints_total', {result: 'completed'});
  const failed = value(m, 'impulse_checkpoints_total', {result: 'failed'});
  setText('ckpt-counts', `${fmtInt(done)} / ${fmtInt(failed)}`);

  const cpu = rate(cur, prev, 'process_cpu_seconds_total');
  setText('engine-cpu', cpu === null ? '-' : `${(cpu * 100).toFixed(1)} % of a core`, cpu);
  const rss = value(m, 'process_resident_memory_bytes');
  setText('engine-rss', fmtBytes(rss), rss);
  const conns = value(m, 'impulse_http_connections_open');
  setText('engine-connections', fmtInt(conns), conns);
  const bp = value(m, 'impulse_backpressure_rejections_total');
  setText('engine-backpressure', fmtInt(bp), bp);

  rateChart.draw();
  processChart.draw();
  for (const c of stageCharts.values()) c.draw();
}
