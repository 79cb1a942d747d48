#!/usr/bin/python3
"""The web console in a real headless Chromium (Debian's chromium + chromedriver + python3-selenium).

Starts `impulse run` on a temporary data dir and a free port with a small spec (a feature view, a
predict step with a decision log, a trigger calling a webhook on a closed port, so its firing is
dead-lettered after one retry; a second pipeline scoring with a serving, a canary and a shadow
version), sends known events over HTTP, then checks every page: no browser console errors, the
numbers shown equal /metrics and the read-back API (the rows per version and role, and the score
distribution of events sent while the page was open), an entity lookup and a decision explanation
show the right values, the action's dead letter appears, a live tail shows a new event, and a 401
asks for the token. A screenshot of each page goes to --screenshots.

Exit 77 (ctest SKIP_RETURN_CODE) only when chromium, chromedriver or selenium are missing.
"""
import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
TOKEN = 'console-test-token'

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError:
    webdriver = None

SPEC = """
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 2
  - name: tx2
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 2
feature_views:
  - name: customer
    source: tx
    entity: customer
    features:
      - {name: n_1h, agg: count(), window: 1h}
      - {name: sum_1h, agg: sum(amount), window: 1h}
actions:
  - name: hook
    webhook: {url: "http://127.0.0.1:%(closed_port)d/alerts", timeout: 1s, retries: 1, backoff: {initial: 10ms, max: 20ms}}
pipelines:
  - name: score
    from: tx
    steps:
      - features: customer
      - predict: {model: risk, outputs: [risk_score], entity: customer, event_id: id, decision_log: decisions}
      - trigger:
          name: big
          when: risk_score >= 100
          event_id: id
          call:
            - action: hook
    sink: {stream: scored}
  - name: score2
    from: tx2
    steps:
      - predict:
          model: prob
          version: 1
          outputs: [p]
          entity: customer
          event_id: id
          canary: {version: 2, percent: 50}
          shadow: [3]
          decision_log: decisions2
    sink: {stream: probs}
"""

# Model prob: p = w * amount, w per version; v1 serves, v2 is the canary, v3 the shadow.
PROB_WEIGHTS = {1: 0.01, 2: 0.005, 3: 0.02}
# Amounts whose scores are far from every bucket bound (0.05 apart), some at most 0, some above 1.
AMOUNTS = [-10.0, 1.0, 8.0, 13.0, 22.0, 31.0, 44.0, 60.0, 80.0, 89.0, 0.0, 27.0, 52.0, 66.0, 71.0, 3.0, 17.0, 38.0,
           49.0, 57.0]


def prob_events(prefix, customers, second):
    return [{'id': '%s%d' % (prefix, c), 'customer': c, 'amount': AMOUNTS[i % len(AMOUNTS)],
             'ts': '2026-01-01T10:%02d:%02dZ' % (second // 60, second % 60)} for i, c in enumerate(customers)]


# Sent before the page opens (the window's baseline), then while the Models tab is shown.
PROB_BEFORE = prob_events('p', range(200, 210), 10)
PROB_DURING = prob_events('q', range(100, 120), 20)


def score_bucket(score):
    """The bucket of impulse_predict_score: 0 for <= 0, i for (i-1)/20 < s <= i/20, 21 above 1."""
    if score <= 0:
        return 0
    return 21 if score > 1 else math.ceil(score * 20)

# risk_score = amount + 10 * n_1h: a2 (customer 7's second event, 95.0) scores 115 and fires.
EVENTS = [
    {'id': 'a1', 'customer': 7, 'amount': 50.0, 'ts': '2026-01-01T10:00:00Z'},
    {'id': 'b1', 'customer': 8, 'amount': 5.0, 'ts': '2026-01-01T10:00:01Z'},
    {'id': 'a2', 'customer': 7, 'amount': 95.0, 'ts': '2026-01-01T10:00:02Z'},
]
BAD_LINE = '{"id":"x1","customer":9,"amount":"not a number","ts":"2026-01-01T10:00:03Z"}'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base):
        self.base = base

    def request(self, path, body=None, method=None):
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={'Authorization': 'Bearer ' + TOKEN})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()

    def json(self, path):
        return json.loads(self.request(path)[1])

    def metrics(self):
        out = {}
        for line in self.request('/metrics')[1].splitlines():
            if not line or line.startswith('#'):
                continue
            key, _, value = line.rpartition(' ')
            out[key] = float(value)
        return out

    def read_all(self, stream):
        rows = []
        for s in self.json('/v1/streams')['streams']:
            if s['name'] != stream:
                continue
            for p in s['partitions']:
                _, body = self.request('/v1/streams/%s/events?partition=%d&from=%d&limit=10000' %
                                       (stream, p['partition'], p['start_offset']))
                rows += [json.loads(l) for l in body.splitlines() if l]
        return rows


def labels_of(key):
    """'name{a="x",b="y"}' -> (name, {'a': 'x', 'b': 'y'})."""
    name, _, rest = key.partition('{')
    return name, dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))


def score_counts(metrics, match):
    """Per-bucket (not cumulative) counts of the impulse_predict_score series whose labels include
    `match`, by (version, role): {('1', 'serving'): [22 counts]}."""
    cum = {}
    for key, v in metrics.items():
        name, labels = labels_of(key)
        if name != 'impulse_predict_score_bucket' or any(labels.get(k) != x for k, x in match.items()):
            continue
        le = float('inf') if labels['le'] == '+Inf' else float(labels['le'])
        cum.setdefault((labels['version'], labels['role']), []).append((le, v))
    out = {}
    for k, bs in cum.items():
        bs.sort()
        out[k] = [c - (bs[i - 1][1] if i else 0) for i, (_, c) in enumerate(bs)]
    return out


def histogram_quantile(metrics, name, labels, q):
    """Prometheus' histogram_quantile over the cumulative buckets of one series (linear inside a
    bucket; the lower edge of +Inf), computed here independently of the page's JavaScript."""
    bs = []
    for key, v in metrics.items():
        if key.startswith(name + '_bucket{') and labels in key:
            le = key.split('le="')[1].split('"')[0]
            bs.append((float('inf') if le == '+Inf' else float(le), v))
    bs.sort()
    total = bs[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in bs:
        if count >= rank:
            if le == float('inf'):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_count) / (count - prev_count))
        prev_le, prev_count = le, count
    return prev_le


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print('ok:', what)


def eventually(fn, what, timeout=10.0):
    """Polls fn() until it returns a truthy value (the page updates once a second)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                print('ok:', what)
                return last
        except Exception as e:  # an element not there yet, a stale row
            last = e
        time.sleep(0.2)
    raise Failure('%s (last: %r)' % (what, last))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', required=True)
    ap.add_argument('--screenshots', required=True)
    args = ap.parse_args()
    if webdriver is None or not os.access(CHROMIUM, os.X_OK) or not os.access(CHROMEDRIVER, os.X_OK):
        print('SKIP: needs chromium, chromium-driver and python3-selenium (scripts/setup.sh)')
        return 77
    os.makedirs(args.screenshots, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='impulse-console-')
    engine = None
    driver = None
    try:
        os.makedirs(os.path.join(tmp, 'models/risk/1'))
        with open(os.path.join(tmp, 'models/risk/config.yaml'), 'w') as f:
            f.write('kind: linear\ninputs:\n  - {name: amount}\n  - {name: n_1h}\noutputs: [risk_score]\n')
        with open(os.path.join(tmp, 'models/risk/1/model.json'), 'w') as f:
            f.write('{"kind":"linear","weights":[1.0,10.0],"bias":0}')
        os.makedirs(os.path.join(tmp, 'models/prob'))
        with open(os.path.join(tmp, 'models/prob/config.yaml'), 'w') as f:
            f.write('kind: linear\nversion_policy: all\ninputs:\n  - {name: amount}\noutputs: [p]\n')
        for version, w in PROB_WEIGHTS.items():
            os.makedirs(os.path.join(tmp, 'models/prob/%d' % version))
            with open(os.path.join(tmp, 'models/prob/%d/model.json' % version), 'w') as f:
                f.write('{"kind":"linear","weights":[%r],"bias":0}' % w)
        with open(os.path.join(tmp, 'spec.yaml'), 'w') as f:
            f.write(SPEC % {'closed_port': free_port()})
        port = free_port()
        base = 'http://127.0.0.1:%d' % port
        engine = subprocess.Popen(
            [args.binary, 'run', os.path.join(tmp, 'spec.yaml'), '--data-dir', os.path.join(tmp, 'data'),
             '--models', os.path.join(tmp, 'models'), '--listen', '127.0.0.1:%d' % port, '--token', TOKEN,
             '--checkpoint-interval-ms', '2000'],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, 'engine.log'), 'w'))
        api = Api(base)

        def healthy():
            try:
                return urllib.request.urlopen(base + '/healthz', timeout=1).status == 200
            except (urllib.error.URLError, ConnectionError):
                check(engine.poll() is None, 'engine running')
                return False
        eventually(healthy, 'engine answers /healthz', timeout=30)

        body = '\n'.join(json.dumps(e) for e in EVENTS) + '\n' + BAD_LINE + '\n'
        try:
            api.request('/v1/streams/tx/events', body.encode(), 'POST')
        except urllib.error.HTTPError as e:
            check(e.code == 207, 'ingest answers 207 for 3 good lines and 1 bad one')
        eventually(lambda: api.read_all('_action_dead_letter'), 'the firing of a2 is dead-lettered', timeout=20)
        eventually(lambda: len(api.read_all('decisions')) == 3, 'three decisions logged')
        api.request('/v1/streams/tx2/events', ''.join(json.dumps(e) + '\n' for e in PROB_BEFORE).encode(), 'POST')
        eventually(lambda: len(api.read_all('decisions2')) == len(PROB_BEFORE), 'score2 logged its first decisions')
        before = api.metrics()

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                  '--window-size=1400,1100'):
            opts.add_argument(a)
        opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        driver.set_page_load_timeout(20)
        errors = []

        def collect_log(allowed=()):
            for entry in driver.get_log('browser'):
                if entry['level'] in ('SEVERE', 'ERROR') and not any(a in entry['message'] for a in allowed):
                    errors.append(entry['message'])

        def scrapes():
            return int(driver.find_element(By.TAG_NAME, 'body').get_attribute('data-scrapes') or 0)

        def cell(table, key, field):
            el = driver.find_element(By.CSS_SELECTOR, '#%s tr[data-key="%s"] td[data-field="%s"]' % (table, key, field))
            return el

        def shown_number(el):
            return float(el.text.replace(',', ''))

        def tab(name):
            driver.find_element(By.CSS_SELECTOR, 'a[data-tab="%s"]' % name).click()
            eventually(lambda: driver.find_element(By.TAG_NAME, 'body').get_attribute('data-tab') == name,
                       'tab %s shown' % name)

        def shot(name):
            driver.save_screenshot(os.path.join(args.screenshots, name + '.png'))

        # The token from the fragment: no 401 dialog, and the fragment is removed from the URL.
        driver.get(base + '/#token=' + TOKEN)
        eventually(lambda: scrapes() >= 3, 'overview polled /metrics three times')
        check('token' not in driver.current_url, 'token removed from the URL')

        # Overview: the numbers shown equal /metrics and /v1/streams.
        def overview_matches():
            m = api.metrics()
            streams = api.json('/v1/streams')['streams']
            for s in streams:
                end = sum(p['end_offset'] for p in s['partitions'])
                c = cell('streams-table', s['name'], 'end_offset')
                if float(c.get_attribute('data-value')) != end or shown_number(c) != end:
                    return False
                if cell('streams-table', s['name'], 'partitions').text != str(len(s['partitions'])):
                    return False
            if shown_number(cell('streams-table', 'tx', 'events_in')) != m['impulse_events_in_total{stream="tx"}']:
                return False
            if shown_number(cell('streams-table', 'tx', 'dead_letters')) != 1:
                return False
            if shown_number(cell('pipelines-table', 'score', 'events_in')) != \
                    m['impulse_pipeline_events_in_total{pipeline="score"}']:
                return False
            if shown_number(cell('pipelines-table', 'score', 'lag')) != m['impulse_pipeline_lag_events{pipeline="score"}']:
                return False
            count = m['impulse_stage_latency_seconds_count{stage="ingest_to_durable"}']
            if shown_number(cell('stages-table', 'ingest_to_durable', 'count')) != count:
                return False
            for field, q in (('p50', 0.5), ('p99', 0.99), ('p999', 0.999)):
                want = histogram_quantile(m, 'impulse_stage_latency_seconds', 'stage="ingest_to_durable"', q)
                got = float(cell('stages-table', 'ingest_to_durable', field).get_attribute('data-value'))
                if abs(got - want) > 1e-9 * max(1.0, want):
                    return False
            last = driver.find_element(By.ID, 'ckpt-last-id').get_attribute('data-value')
            return last is not None and float(last) == m['impulse_checkpoint_last_id']
        eventually(overview_matches, 'overview numbers equal /metrics and /v1/streams')
        check(shown_number(cell('streams-table', 'tx', 'events_in')) == 3, 'tx shows its 3 accepted events')
        rss = float(driver.find_element(By.ID, 'engine-rss').get_attribute('data-value'))
        check(rss > 1e6, 'engine resident memory shown (%d bytes)' % rss)
        eventually(lambda: driver.find_element(By.ID, 'engine-cpu').get_attribute('data-value') is not None,
                   'engine CPU shown')
        check(len(driver.find_elements(By.CSS_SELECTOR, '#chart-rate .uplot')) == 1, 'ingest chart drawn (uPlot)')
        shot('overview')
        collect_log()

        # Models: the version list and its traffic; a rescan through the confirm() dialog.
        tab('models')

        def models_match():
            m = api.metrics()
            rows = m.get('impulse_model_rows_total{model="risk",version="1"}')
            c = cell('models-table', 'risk/1', 'rows')
            return cell('models-table', 'risk/1', 'state').text == 'ready' and rows == 3 and shown_number(c) == rows
        eventually(models_match, 'model risk v1 ready with 3 rows, as /metrics says')
        driver.find_element(By.ID, 'models-rescan').click()
        eventually(lambda: driver.switch_to.alert, 'rescan asks for confirmation').accept()
        eventually(lambda: '"ok":true' in driver.find_element(By.ID, 'models-message').text, 'rescan answered ok')
        eventually(lambda: len(driver.find_elements(By.CSS_SELECTOR, '#chart-model-rows .uplot')) == 1,
                   'model traffic chart drawn')

        # Per step and role: events sent now are in the score distribution's window; those sent
        # before the page opened are not.
        api.request('/v1/streams/tx2/events', ''.join(json.dumps(e) + '\n' for e in PROB_DURING).encode(), 'POST')
        total = len(PROB_BEFORE) + len(PROB_DURING)

        def role_rows(m):
            out = {}
            for key, v in m.items():
                name, labels = labels_of(key)
                if name == 'impulse_predict_version_rows_total' and labels['pipeline'] == 'score2':
                    out[(labels['version'], labels['role'])] = (v, labels)
            return out
        eventually(lambda: role_rows(api.metrics()).get(('3', 'shadow'), (0,))[0] == total,
                   'the shadow version scored all %d rows of tx2' % total)
        m = api.metrics()
        rows = role_rows(m)
        check(sorted(rows) == [('1', 'serving'), ('2', 'canary'), ('3', 'shadow')],
              'score2 has a serving, a canary and a shadow version: %s' % sorted(rows))
        check(rows[('1', 'serving')][0] + rows[('2', 'canary')][0] == total,
              'serving and canary rows add up to the rows of tx2')
        check(all(rows[k][0] > role_rows(before).get(k, (0,))[0] for k in (('1', 'serving'), ('2', 'canary'))),
              'serving and canary both scored events sent while the page was open')
        step = rows[('1', 'serving')][1]['operator']

        def traffic_matches():
            m = api.metrics()
            for (version, role), (v, l) in role_rows(m).items():
                key = '/'.join((l['pipeline'], l['operator'], l['model'], version, role))
                if shown_number(cell('predict-traffic-table', key, 'rows')) != v:
                    return False
                if cell('predict-traffic-table', key, 'role').text != role:
                    return False
            return True
        eventually(traffic_matches, 'rows per version and role equal /metrics')

        match = {'pipeline': 'score2', 'operator': step, 'model': 'prob', 'output': 'p'}
        window = {k: [a - b for a, b in zip(now, score_counts(before, match).get(k, [0] * len(now)))]
                  for k, now in score_counts(m, match).items()}
        # The shadow version scores every row: its distribution follows from the amounts alone.
        want_shadow = [0] * 22
        for e in PROB_DURING:
            want_shadow[score_bucket(PROB_WEIGHTS[3] * e['amount'])] += 1
        check(window[('3', 'shadow')] == want_shadow, 'shadow score buckets from /metrics are those of the amounts sent')
        check(want_shadow[0] > 0 and want_shadow[21] > 0, 'the known input fills the first and the overflow bucket')
        group = '/'.join((match['pipeline'], match['operator'], match['model'], match['output']))

        def distribution_matches():
            for (version, role), counts in window.items():
                # One script reads the whole row: the table is redrawn at every scrape.
                cells = driver.execute_script(
                    'const tr = document.querySelector(arguments[0]); if (!tr) return null;'
                    'return Object.fromEntries([...tr.querySelectorAll("td")].map('
                    '(td) => [td.dataset.field, [td.dataset.value, td.textContent]]));',
                    'table.score-dist[data-group="%s"] tr[data-key="%s/%s"]' % (group, version, role))
                if not cells:
                    return False
                shown = [float(cells['b%d' % b][0]) for b in range(22)]
                if shown != counts or float(cells['scores'][1].replace(',', '')) != sum(counts):
                    return False
            return True
        eventually(distribution_matches, 'score distribution of the window equals the /metrics deltas: %s' % window)
        check(len(driver.find_elements(By.CSS_SELECTOR, 'figure.score-dist[data-group="%s"] .uplot' % group)) == 1,
              'score distribution chart drawn (uPlot)')
        check(len(driver.find_elements(By.CSS_SELECTOR, '#chart-predict-rows .uplot')) == 1, 'per-role rows chart drawn')
        driver.execute_script('document.getElementById("predict-traffic-table").scrollIntoView()')
        shot('models')
        collect_log()

        # Actions: counters equal /metrics; the dead letter with its error; the firing's outcome.
        tab('actions')

        def actions_match():
            m = api.metrics()
            for field, name in (('dead_lettered', 'impulse_action_dead_lettered_total'),
                                ('delivered', 'impulse_action_delivered_total'),
                                ('attempts', 'impulse_action_attempts_total'),
                                ('retries', 'impulse_action_retries_total'),
                                ('pending', 'impulse_action_pending')):
                if shown_number(cell('actions-table', 'hook', field)) != m['%s{action="hook"}' % name]:
                    return False
            return shown_number(cell('actions-table', 'hook', 'dead_lettered')) == 1
        eventually(actions_match, 'action counters equal /metrics (1 dead letter)')
        dl = api.read_all('_action_dead_letter')[0]
        # The tables are redrawn as the page polls: each check finds its row again (a row found
        # once goes stale at the next redraw).
        def dead_letter_cell(field):
            row = driver.find_element(By.CSS_SELECTOR, '#dead-letters-table tbody tr')
            return row.find_element(By.CSS_SELECTOR, 'td[data-field="%s"]' % field).text
        eventually(lambda: dead_letter_cell('firing_id') == 'big/a2', 'dead letter big/a2 listed')
        check(dl['error'], 'the dead letter read back has an error')
        eventually(lambda: dead_letter_cell('error') == dl['error'],
                   'dead letter error shown as read back: %s' % dl['error'])
        eventually(lambda: dead_letter_cell('attempts') == str(dl['attempts']), 'dead letter attempts %s' % dl['attempts'])
        eventually(lambda: driver.find_element(By.CSS_SELECTOR, '#firings-table tbody tr').find_element(
            By.CSS_SELECTOR, 'td[data-field="outcome"]').text == 'dead letter', 'the firing is shown dead-lettered')
        shot('actions')
        collect_log()

        # Explore: an entity's features, an event's decision, a live tail.
        tab('explore')
        eventually(lambda: 'customer' in [o.text for o in Select(driver.find_element(By.ID, 'feature-view')).options],
                   'feature views listed')
        Select(driver.find_element(By.ID, 'feature-view')).select_by_value('customer')
        driver.find_element(By.ID, 'feature-entity').send_keys('7')
        driver.find_element(By.ID, 'feature-lookup').click()
        want = api.json('/v1/features/customer/7')['features']
        check(want == {'n_1h': 2, 'sum_1h': 145.0}, 'API: customer 7 has n_1h 2, sum_1h 145 (%s)' % want)

        def features_shown():
            vals = {k: json.loads(driver.find_element(
                By.CSS_SELECTOR, '#feature-values tr[data-key="%s"] td' % k).get_attribute('data-value')) for k in want}
            return vals == want
        eventually(features_shown, 'entity lookup shows customer 7: n_1h 2, sum_1h 145')

        Select(driver.find_element(By.ID, 'decision-stream')).select_by_value('decisions')
        driver.find_element(By.ID, 'decision-id').send_keys('a2')
        driver.find_element(By.ID, 'decision-lookup').click()
        rec = api.json('/v1/decisions/decisions/a2')['records'][0]

        def decision_shown():
            box = driver.find_element(By.CSS_SELECTOR, '#decision-result .decision[data-record="0"]')
            feats = {tr.get_attribute('data-key'): json.loads(tr.find_element(By.TAG_NAME, 'td').get_attribute(
                'data-value')) for tr in box.find_elements(By.CSS_SELECTOR, '#decision-features-0 tr')}
            score = json.loads(box.find_element(
                By.CSS_SELECTOR, '#decision-scores-0 tr[data-key="risk_score"] td').get_attribute('data-value'))
            return (box.get_attribute('data-version') == '1' and feats == rec['features'] and
                    feats.get('amount') == 95 and feats.get('n_1h') == 2 and score == rec['scores']['risk_score'] == 115)
        eventually(decision_shown, 'decision of a2: version 1, features amount 95 and n_1h 2, score 115')
        eventually(lambda: 'dead_letter' in driver.find_element(
            By.CSS_SELECTOR, '#decision-firings li[data-firing="big/a2"]').text,
            'the decision lists its firing big/a2, dead-lettered')
        shot('explore')

        Select(driver.find_element(By.ID, 'tail-stream')).select_by_value('tx')
        driver.find_element(By.ID, 'tail-start').click()
        eventually(lambda: len(driver.find_elements(By.CSS_SELECTOR, '#tail-table tbody tr')) == 3,
                   'tail shows the 3 events of tx')
        api.request('/v1/streams/tx/events', (json.dumps(
            {'id': 'c1', 'customer': 10, 'amount': 1.0, 'ts': '2026-01-01T10:00:04Z'}) + '\n').encode(), 'POST')
        eventually(lambda: '"c1"' in driver.find_element(By.CSS_SELECTOR, '#tail-table tbody tr').text,
                   'tail shows a new event live')
        driver.find_element(By.ID, 'tail-stop').click()
        collect_log()

        # Without a token: a data call gets 401 and the page asks for the token, once.
        driver.execute_script('sessionStorage.clear()')
        driver.get(base + '/#overview')
        eventually(lambda: driver.find_element(By.ID, 'token-dialog').get_attribute('open') is not None,
                   'a 401 opens the token dialog')
        driver.find_element(By.ID, 'token-input').send_keys(TOKEN)
        driver.find_element(By.ID, 'token-submit').click()
        eventually(lambda: scrapes() >= 2, 'polling resumes with the token given')
        check(driver.execute_script('return sessionStorage.getItem("impulse.token")') == TOKEN, 'token kept')
        collect_log(allowed=('401 (Unauthorized)',))

        check(not errors, 'no browser console errors: %s' % errors)
        return 0
    except Failure as e:
        print('FAIL:', e)
        if engine is not None and os.path.exists(os.path.join(tmp, 'engine.log')):
            sys.stdout.write(open(os.path.join(tmp, 'engine.log')).read()[-4000:])
        if driver is not None:
            driver.save_screenshot(os.path.join(args.screenshots, 'failure.png'))
            for entry in driver.get_log('browser'):
                print('browser:', entry)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        if engine is not None:
            engine.terminate()
            try:
                engine.wait(timeout=20)
            except subprocess.TimeoutExpired:
                engine.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
