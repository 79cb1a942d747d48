// Data calls of the console. Every call carries the bearer token when one is known; a 401 asks
// for it once (one dialog however many calls failed), keeps it in sessionStorage (this tab only)
// and retries. The page may also be opened as /#token=... (the fragment never reaches a server).

const TOKEN_KEY = 'impulse.token';
let asking = null;  // the pending token dialog, shared by concurrent 401s

export function takeTokenFromHash() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  const rest = location.hash.replace(/(^#|&)token=[^&]*/, '$1').replace(/^#&/, '#');
  history.replaceState(null, '', rest === '#' ? location.pathname : location.pathname + rest);
}

function askToken() {
  if (asking) return asking;
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  asking = new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      asking = null;
      if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
      input.value = '';
      resolve();
    }, {once: true});
  });
  dialog.showModal();
  return asking;
}

export class HttpError extends Error {
  constructor(status, body) {
    let message = `HTTP ${status}`;
    try {
      const j = JSON.parse(body);
      if (j.error) message = j.error;
    } catch (_) { /* not JSON: keep the status */ }
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function call(path, init = {}) {
  for (let attempt = 0; ; ++attempt) {
    const headers = new Headers(init.headers || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    const r = await fetch(path, {...init, headers, cache: 'no-store'});
    if (r.status === 401 && attempt < 3) {
      await askToken();
      continue;
    }
    return r;
  }
}

// The body as text; throws HttpError for a non-2xx reply (except the `ok` statuses given).
export async function getText(path, init = {}, ok = []) {
  const r = await call(path, init);
  const body = await r.text();
  if (!r.ok && !ok.includes(r.status)) throw new HttpError(r.status, body);
  return {status: r.status, body};
}

export async function getJson(path, init = {}, ok = []) {
  const {status, body} = await getText(path, init, ok);
  return {status, json: JSON.parse(body)};
}

// NDJSON events of one partition of a stream from `from`, at most `limit`.
export async function readEvents(stream, partition, from, limit) {
  const q = `partition=${partition}&from=${from}&limit=${limit}`;
  const {body} = await getText(`/v1/streams/${encodeURIComponent(stream)}/events?${q}`);
  return body.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

// The last `n` events of a stream (every partition), newest last by (event order within a
// partition, then partition).
export async function readLatest(streamInfo, n) {
  const out = [];
  for (const p of streamInfo.partitions) {
    const from = Math.max(p.start_offset, p.end_offset - n);
    if (p.end_offset > from) out.push(...await readEvents(streamInfo.name, p.partition, from, n));
  }
  return out;
}
