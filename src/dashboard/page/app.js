// The dashboard page: draws what the server streams (src/protocol/dashboard.ts is the shape), and
// sends the actions a user confirms. Plain JavaScript, no build step; uPlot draws the charts.
'use strict';

const KINDS = [
  ['lookup', 'lookup', '#0969da'],
  ['trade', 'trade', '#cf222e'],
  ['order_query', 'order query', '#1a7f37'],
];
const TOKEN_KEY = 'bazaar-dashboard-token';
const $ = (selector) => document.querySelector(selector);

let snapshot = null;
let points = [];
let pointsMax = 600;
const charts = {};

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const fmt = (value, digits = 0) => (value === null || value === undefined ? '–' : Number(value).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const clock = (at) => new Date(at).toLocaleTimeString('en-GB', { hour12: false });

// ---- Actions ----------------------------------------------------------------------------------------

function token() {
  if (snapshot === null || !snapshot.tokenRequired) return null;
  let value = sessionStorage.getItem(TOKEN_KEY);
  if (value === null) {
    value = window.prompt('This cluster has a token. Enter it once; it is kept only in this tab.');
    if (value === null || value === '') return undefined;
    sessionStorage.setItem(TOKEN_KEY, value);
  }
  return value;
}

function status(text, failed = false) {
  const node = $('#action-status');
  node.textContent = text;
  node.dataset.state = failed ? 'failed' : 'ok';
}

/** Confirms, sends, and shows the outcome; a failure is shown, never swallowed. */
async function act(question, path, body) {
  if (!window.confirm(question)) return null;
  const secret = token();
  if (secret === undefined) {
    status('cancelled: no token given', true);
    return null;
  }
  status(`${question.replace(/\?$/, '')}…`);
  const headers = { 'content-type': 'application/json' };
  if (secret !== null) headers.authorization = `Bearer ${secret}`;
  try {
    const reply = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });
    const json = await reply.json().catch(() => ({}));
    if (reply.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    if (!reply.ok) {
      status(`failed: ${json.error?.message ?? `HTTP ${reply.status}`}`, true);
      return null;
    }
    status('done');
    return json.data;
  } catch (error) {
    status(`failed: ${error.message}`, true);
    return null;
  }
}

function number(selector) {
  return Number($(selector).value);
}

$('#crash-leader').addEventListener('click', () => act('Crash the leader (SIGKILL)?', '/api/leader/crash'));
$('#hang-leader').addEventListener('click', () => {
  const seconds = number('#hang-seconds');
  act(`Hang the leader for ${seconds} s (SIGSTOP, then SIGCONT)?`, '/api/leader/hang', { seconds });
});
$('#load-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const body = { p: number('#load-p'), sessions: number('#load-sessions'), iterations: number('#load-iterations') };
  act(`Start a load: ${body.sessions} sessions × ${body.iterations} iterations, p = ${body.p}?`, '/api/load', body);
});

// ---- Boxes --------------------------------------------------------------------------------------------

function kv(label, value) {
  return el('div', { class: 'kv' }, el('span', {}, label), el('span', {}, value));
}

function roleBox(box, lines, attributes = {}, buttons = []) {
  return el(
    'article',
    { class: 'box', 'data-role': box.name, 'data-up': box.up, 'data-pid': box.pid ?? undefined, ...attributes },
    el('h3', {}, box.name, el('span', { class: 'pill', 'data-state': box.up ? 'ok' : 'failed' }, box.up ? 'up' : 'down')),
    kv('address', box.address),
    kv('pid', box.pid ?? '–'),
    ...lines,
    ...(buttons.length === 0 ? [] : [el('div', { class: 'buttons' }, ...buttons)]),
  );
}

function replicaBox(replica) {
  const crash = el('button', { class: 'danger', type: 'button', 'data-action': 'crash' }, 'Crash');
  crash.disabled = !replica.up;
  crash.addEventListener('click', () => act(`Crash order replica ${replica.id} (SIGKILL)?`, `/api/replicas/${replica.id}/crash`));
  const recover = el('button', { type: 'button', 'data-action': 'recover' }, 'Recover');
  recover.disabled = replica.up || !snapshot.supervised;
  recover.addEventListener('click', () => act(`Start order replica ${replica.id} again?`, `/api/replicas/${replica.id}/recover`));
  const state = !replica.up ? 'down' : replica.role === 'leader' ? (replica.serving ? 'leader' : 'leader (starting)') : replica.role;
  const lines = [
    kv('role', state),
    kv('epoch', replica.epoch ?? '–'),
    kv('log epoch', replica.logEpoch ?? '–'),
    kv('last order', replica.lastNumber ?? '–'),
    kv('lag', replica.lag ?? '–'),
    kv('sync', replica.sync),
  ];
  if (replica.progress !== null) lines.push(el('div', { class: 'progress', title: `${Math.round(replica.progress * 100)}%` }, el('div', { style: `width:${Math.round(replica.progress * 100)}%` })));
  return roleBox(replica, lines, { 'data-replica': replica.id, 'data-sync': replica.sync, 'data-epoch': replica.epoch ?? '' }, [crash, recover]);
}

function frontendBox(frontend, index) {
  const cache = frontend.cache;
  const cacheText = cache === null ? '–' : cache.enabled ? `on, ${cache.size}/${cache.max}` : 'off';
  return roleBox(frontend, [
    kv('leader', frontend.leader === null ? '–' : `replica ${frontend.leader}`),
    kv('epoch', frontend.epoch ?? '–'),
    kv('elections', frontend.elections ?? '–'),
    kv('cache', cacheText),
    kv('hit ratio', frontend.hitRatio === null ? '–' : `${(frontend.hitRatio * 100).toFixed(1)}%`),
    kv('lease', cache === null || !cache.enabled ? '–' : cache.leaseValid ? 'valid' : 'lapsed (lookups bypass the cache)'),
  ], { id: index === 0 ? 'frontend' : `frontend-${index + 1}`, 'data-leader': frontend.leader ?? '', 'data-epoch': frontend.epoch ?? '' });
}

function drawRoles() {
  const { catalog, frontends, replicas } = snapshot;
  const nodes = [
    ...frontends.map(frontendBox),
    roleBox(catalog, [kv('trades', fmt(catalog.trades))], { id: 'catalog' }),
    ...replicas.map(replicaBox),
  ];
  $('#roles').replaceChildren(...nodes);
  const leader = replicas.find((replica) => replica.sync === 'leader');
  $('#summary').textContent = leader === undefined ? 'no serving leader' : `leader: replica ${leader.id}, epoch ${leader.epoch}`;
}

// ---- Stocks and G4 ------------------------------------------------------------------------------------

let previousStocks = new Map();

function drawStocks() {
  const rows = snapshot.stocks.map((stock) => {
    const before = previousStocks.get(stock.name);
    const changed = before !== undefined && (before.quantity !== stock.quantity || before.volume !== stock.volume);
    return el(
      'tr',
      { 'data-stock': stock.name, class: changed ? 'changed' : undefined },
      el('td', {}, stock.name),
      el('td', { class: 'num' }, fmt(stock.price, 2)),
      el('td', { class: 'num', 'data-field': 'quantity' }, stock.quantity),
      el('td', { class: 'num', 'data-field': 'volume' }, stock.volume),
    );
  });
  previousStocks = new Map(snapshot.stocks.map((stock) => [stock.name, stock]));
  $('#stocks tbody').replaceChildren(...rows);
  const badge = $('#conservation');
  const c = snapshot.conservation;
  badge.dataset.state = c.state;
  badge.textContent =
    c.state === 'equal' ? `catalog = order log (${fmt(c.orders)} orders)`
    : c.state === 'in flight' ? `orders in flight (catalog ${fmt(c.catalogTrades)}, log ${fmt(c.orders)})`
    : c.state === 'differs' ? `catalog ≠ order log: ${c.differing.join(', ') || `catalog ${fmt(c.catalogTrades)} trades, log ${fmt(c.orders)} orders`}`
    : 'catalog unreachable';
}

// ---- Timeline -----------------------------------------------------------------------------------------

function addEvents(events) {
  const list = $('#timeline');
  for (const event of events) {
    list.prepend(el('li', { 'data-kind': event.kind, 'data-failed': event.failed === true ? 'true' : undefined }, el('time', {}, clock(event.at)), el('span', { class: 'kind' }, event.kind), el('span', {}, event.text)));
  }
  while (list.children.length > 300) list.lastElementChild.remove();
}

// ---- Load result ----------------------------------------------------------------------------------------

function drawLoad(load) {
  const button = $('#load-start');
  button.disabled = load.running;
  button.textContent = load.running ? 'Load running…' : 'Start load';
  if (!load.running && load.report === null && load.error === null) return;
  $('#load-section').hidden = false;
  const verdict = $('#load-verdict');
  if (load.running) {
    verdict.dataset.state = 'running';
    verdict.textContent = 'running';
    $('#load-line').textContent = `${load.request.sessions} sessions × ${load.request.iterations} iterations, p = ${load.request.p}, started ${clock(load.startedAt)}`;
    return;
  }
  if (load.error !== null) {
    verdict.dataset.state = 'failed';
    verdict.textContent = 'failed';
    $('#load-line').textContent = load.error;
    $('#load-table tbody').replaceChildren();
    return;
  }
  const report = load.report;
  verdict.dataset.state = report.ok ? 'ok' : 'failed';
  verdict.textContent = report.ok ? 'verified: every order matches' : 'FAILED';
  $('#load-line').textContent = `${report.clients} sessions × ${report.iterations} iterations, p = ${report.p}, seed ${report.seed}: ${report.orders_placed} orders in ${report.duration_s} s; ${report.errors} errors, ${report.mismatches} mismatches in the final check, ${report.retries} retries, ${report.trades_rejected} trades refused for lack of stock`;
  $('#load-table tbody').replaceChildren(
    ...KINDS.map(([key, label]) => {
      const row = report.latency[key];
      const cell = (value) => el('td', { class: 'num' }, row.count === 0 ? '–' : fmt(value, 2));
      return el('tr', { 'data-kind': key }, el('td', {}, label), el('td', { class: 'num' }, row.count), cell(row.p50_ms), cell(row.p90_ms), cell(row.p99_ms), cell(row.max_ms));
    }),
  );
}

// ---- Charts ---------------------------------------------------------------------------------------------

function chartWidth(id) {
  return Math.max(300, document.getElementById(id).parentElement.clientWidth - 4);
}

function makeChart(id, series, yLabel) {
  const options = {
    width: chartWidth(id),
    height: 180,
    scales: { x: { time: true } },
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, spanGaps: false, value: (u, v) => (v === null ? '–' : v.toFixed(s.digits ?? 1)) }))],
    axes: [{}, { label: yLabel, size: 60 }],
    legend: { live: true },
  };
  charts[id] = { plot: new uPlot(options, [[], ...series.map(() => [])], document.getElementById(id)), series };
}

function drawCharts() {
  const xs = points.map((point) => point.at / 1000);
  for (const chart of Object.values(charts)) chart.plot.setData([xs, ...chart.series.map((s) => points.map(s.value))]);
}

function setUpCharts() {
  makeChart('chart-rps', KINDS.map(([key, label, color]) => ({ label, color, value: (p) => p.rps[key] })), 'req/s');
  makeChart(
    'chart-latency',
    KINDS.flatMap(([key, label, color]) => [
      { label: `${label} p50`, color, digits: 2, value: (p) => p.p50[key] },
      { label: `${label} p99`, color, dash: [4, 4], digits: 2, value: (p) => p.p99[key] },
    ]),
    'ms',
  );
  makeChart('chart-orders', [{ label: 'orders/s', color: '#8250df', value: (p) => p.ordersPerS }], 'orders/s');
  makeChart('chart-hits', [{ label: 'hit ratio', color: '#bf8700', digits: 3, value: (p) => p.hitRatio }], 'ratio');
  window.addEventListener('resize', () => {
    for (const [id, chart] of Object.entries(charts)) chart.plot.setSize({ width: chartWidth(id), height: 180 });
  });
}

// ---- Stream ---------------------------------------------------------------------------------------------

// What was last drawn, so an update that changes nothing costs the browser nothing: the page may
// run on the same machine as the cluster, and every redraw takes CPU the roles could use.
const drawn = { roles: '', stocks: '', points: -1, chartsAt: 0 };
/** Charts are redrawn at most this often (a canvas redraw is the page's largest cost). */
const CHART_REDRAW_MS = 1000;

function draw() {
  const roles = JSON.stringify([snapshot.catalog, snapshot.frontends, snapshot.replicas, snapshot.supervised]);
  if (roles !== drawn.roles) {
    drawn.roles = roles;
    drawRoles();
  }
  const stocks = JSON.stringify([snapshot.stocks, snapshot.conservation]);
  if (stocks !== drawn.stocks) {
    drawn.stocks = stocks;
    drawStocks();
  }
  const newest = points.length === 0 ? -1 : points[points.length - 1].at;
  if (newest !== drawn.points && performance.now() - drawn.chartsAt >= CHART_REDRAW_MS) {
    drawn.points = newest;
    drawn.chartsAt = performance.now();
    drawCharts();
  }
}

function connect() {
  const connection = $('#connection');
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => {
    connection.dataset.state = 'open';
    connection.textContent = 'live';
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself; say so meanwhile.
    connection.dataset.state = 'closed';
    connection.textContent = 'dashboard unreachable, retrying…';
  });
  source.addEventListener('hello', (message) => {
    const hello = JSON.parse(message.data);
    snapshot = hello.snapshot;
    points = hello.points;
    pointsMax = Math.max(pointsMax, points.length);
    $('#timeline').replaceChildren();
    Object.assign(drawn, { roles: '', stocks: '', points: -1, chartsAt: 0 });
    addEvents(hello.events);
    drawLoad(hello.load);
    draw();
  });
  source.addEventListener('update', (message) => {
    const update = JSON.parse(message.data);
    snapshot = update.snapshot;
    if (update.point !== null) {
      points.push(update.point);
      if (points.length > pointsMax) points.shift();
    }
    addEvents(update.events);
    draw();
  });
  source.addEventListener('load', (message) => drawLoad(JSON.parse(message.data)));
}

setUpCharts();
connect();
