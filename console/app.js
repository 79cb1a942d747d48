// The console's shell: tabs, and one poller that fetches /metrics at most once a second while
// the page is visible (none while the tab is hidden), refreshes the stream list every 5 s, and
// hands each scrape to every page (so charts keep their history) and draws the shown one.
import {getJson, getText, takeTokenFromHash} from './api.js';
import {parseProm} from './prom.js';
import * as overview from './overview.js';
import * as models from './models.js';
import * as actions from './actions.js';
import * as explore from './explore.js';

const PAGES = {overview, models, actions, explore};
const POLL_MS = 1000;
const STREAMS_MS = 5000;

const state = {cur: null, prev: null, streams: [], streamsAt: 0, scrapes: 0};
let timer = null;
let lastFetch = 0;
let running = false;

function currentTab() {
  const t = location.hash.replace(/^#/, '').split('&')[0];
  return PAGES[t] ? t : 'overview';
}

function showTab() {
  const tab = currentTab();
  for (const name of Object.keys(PAGES)) {
    document.getElementById(`page-${name}`).hidden = name !== tab;
  }
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', a.dataset.tab === tab);
  document.body.dataset.tab = tab;
  PAGES[tab].shown?.(state);
  if (state.cur) PAGES[tab].render(state);
}

function setStatus(text, error = false) {
  const el = document.getElementById('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

async function tick() {
  timer = null;
  if (document.hidden || running) return;
  running = true;
  lastFetch = Date.now();
  try {
    const {body} = await getText('/metrics');
    const t = Date.now();
    state.prev = state.cur;
    state.cur = {t, m: parseProm(body)};
    if (t - state.streamsAt >= STREAMS_MS) {
      state.streams = (await getJson('/v1/streams')).json.streams;
      state.streamsAt = t;
    }
    for (const p of Object.values(PAGES)) p.sample?.(state);
    state.scrapes += 1;
    document.body.dataset.scrapes = String(state.scrapes);
    setStatus(`updated ${new Date(t).toLocaleTimeString()}`);
    await PAGES[currentTab()].render(state);
  } catch (e) {
    setStatus(`error: ${e.message}`, true);
  } finally {
    running = false;
    schedule();
  }
}

function schedule() {
  if (timer !== null || document.hidden) return;
  timer = setTimeout(tick, Math.max(0, lastFetch + POLL_MS - Date.now()));
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  } else {
    schedule();
  }
});

window.addEventListener('hashchange', () => {
  takeTokenFromHash();
  showTab();
});

takeTokenFromHash();
for (const p of Object.values(PAGES)) p.init?.(state);
showTab();
schedule();
