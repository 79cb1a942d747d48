// A parser for the Prometheus text format 0.0.4 as /metrics writes it, and the arithmetic the
// pages need (sums, rates between two scrapes, quantiles of histogram buckets).

// Returns Map: metric name -> [{labels: {k: v}, value: number}] (a histogram's _bucket, _sum
// and _count samples under their own names).
export function parseProm(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line[0] === '#') continue;
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') ++i;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === '{') {
      ++i;
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i);
        const key = line.slice(i, eq).trim();
        let j = eq + 2;  // after ="
        let v = '';
        while (line[j] !== '"') {
          if (line[j] === '\\') {
            const c = line[j + 1];
            v += c === 'n' ? '\n' : c;
            j += 2;
          } else {
            v += line[j++];
          }
        }
        labels[key] = v;
        i = j + 1;
        if (line[i] === ',') ++i;
      }
      ++i;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = parseValue(rest[0]);
    if (!out.has(name)) out.set(name, []);
    out.get(name).push({labels, value});
  }
  return out;
}

function parseValue(s) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

export function samples(m, name, match = {}) {
  return (m.get(name) || []).filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

export function sum(m, name, match = {}) {
  const s = samples(m, name, match);
  return s.length === 0 ? null : s.reduce((a, x) => a + x.value, 0);
}

export function value(m, name, match = {}) {
  const s = samples(m, name, match);
  return s.length === 0 ? null : s[0].value;
}

// Per-second rate of a counter (summed over the matching series) between two scrapes; null
// without a previous scrape; a counter reset (restart) counts from zero.
export function rate(cur, prev, name, match = {}) {
  if (!prev) return null;
  const a = sum(cur.m, name, match);
  const b = sum(prev.m, name, match);
  if (a === null) return null;
  const dt = (cur.t - prev.t) / 1000;
  if (dt <= 0) return null;
  const d = b === null || a < b ? a : a - b;
  return d / dt;
}

// Cumulative buckets [{le, count}] of one histogram series, ascending.
export function buckets(m, name, match = {}) {
  return samples(m, `${name}_bucket`, match)
    .map((s) => ({le: parseValue(s.labels.le), count: s.value}))
    .sort((x, y) => x.le - y.le);
}

// The q-quantile of cumulative buckets, interpolated linearly inside the bucket (as Prometheus'
// histogram_quantile does); null with no observations.
export function quantile(bs, q) {
  if (bs.length === 0) return null;
  const total = bs[bs.length - 1].count;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of bs) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;  // beyond the last bound: its lower edge
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// The buckets observed between two scrapes (current minus previous).
export function bucketDelta(cur, prev) {
  if (!prev || prev.length !== cur.length) return cur;
  return cur.map((b, i) => ({le: b.le, count: Math.max(0, b.count - prev[i].count)}));
}
