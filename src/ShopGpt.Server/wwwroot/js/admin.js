// Operator dashboard (docs/analytics.md): GET /api/admin/analytics with the admin token, drawn as
// inline SVG. The token stays in this tab's sessionStorage only.
const NS = 'http://www.w3.org/2000/svg';
const KEY = 'shopgpt.adminToken';
const fmt = new Intl.NumberFormat('en-US');

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function empty(box, what) {
  box.replaceChildren(Object.assign(document.createElement('p'), { className: 'empty', textContent: `No ${what} yet.` }));
}

/** Columns over time; several series side by side per slot. */
export function columns(box, series, { label, title }) {
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) return empty(box, title);
  const times = [...new Set(points.map((p) => Date.parse(p.at)))].sort((a, b) => a - b);
  const max = Math.max(1, ...points.map((p) => p.value));
  const W = 720, H = 200, L = 40, B = 24, T = 8;
  const slot = (W - L) / times.length;
  const bar = Math.max(1, (slot * 0.8) / series.length);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  root.append(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W, y2: H - B }));
  root.append(svg('text', { x: L - 6, y: T + 10, 'text-anchor': 'end' }, fmt.format(max)));
  root.append(svg('text', { x: L - 6, y: H - B, 'text-anchor': 'end' }, '0'));
  series.forEach((s, si) => {
    const byTime = new Map(s.points.map((p) => [Date.parse(p.at), p.value]));
    times.forEach((t, i) => {
      const v = byTime.get(t) ?? 0;
      const h = ((H - B - T) * v) / max;
      const r = svg('rect', { class: `s${si}`, x: L + i * slot + slot * 0.1 + si * bar, y: H - B - h, width: bar, height: h });
      r.append(svg('title', {}, `${label(t)}: ${fmt.format(v)} ${s.name}`));
      root.append(r);
    });
  });
  const step = Math.max(1, Math.ceil(times.length / 8));
  times.forEach((t, i) => { if (i % step === 0) root.append(svg('text', { x: L + i * slot + slot / 2, y: H - 6, 'text-anchor': 'middle' }, label(t))); });
  const legend = document.createElement('div');
  legend.className = 'legend';
  if (series.length > 1) series.forEach((s, si) => {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.className = `swatch-${si}`;
    sw.style.background = `var(${si === 0 ? '--accent' : '--accent2'})`;
    item.append(sw, s.name);
    legend.append(item);
  });
  box.replaceChildren(root, legend);
}

/** Horizontal bars for a top-N list. */
export function bars(box, items, title) {
  if (items.length === 0) return empty(box, title);
  const max = Math.max(1, ...items.map((i) => i.value));
  const row = 24, W = 720, L = 260;
  const root = svg('svg', { viewBox: `0 0 ${W} ${items.length * row + 4}`, role: 'img', 'aria-label': title });
  items.forEach((it, i) => {
    const y = i * row + 2;
    const name = it.key.length > 40 ? `${it.key.slice(0, 39)}…` : it.key;
    root.append(svg('text', { class: 'label', x: L - 8, y: y + 15, 'text-anchor': 'end' }, name));
    const w = ((W - L - 60) * it.value) / max;
    const r = svg('rect', { class: 's0', x: L, y: y + 3, width: Math.max(1, w), height: row - 8, 'data-key': it.key });
    r.append(svg('title', {}, `${it.key}: ${fmt.format(it.value)}`));
    root.append(r, svg('text', { x: L + w + 6, y: y + 15 }, fmt.format(it.value)));
  });
  box.replaceChildren(root);
}

const hourLabel = (t) => new Date(t).toISOString().slice(11, 13) + 'h';
const dayLabel = (t) => new Date(t).toISOString().slice(5, 10);
const monthLabel = (t) => new Date(t).toISOString().slice(0, 7);

function tile(name, value) {
  const el = document.createElement('div');
  el.className = 'tile';
  const b = document.createElement('b');
  b.textContent = value;
  const span = document.createElement('span');
  span.textContent = name;
  el.append(b, span);
  return el;
}

function render(d) {
  const t = d.totals ?? {};
  const n = (k) => fmt.format(t[k] ?? 0);
  document.getElementById('tiles').replaceChildren(
    tile('user messages', n('user_messages')), tile('assistant turns', n('assistant_turns')),
    tile('answers failed', n('answers_failed')), tile('answers stopped', n('answers_stopped')),
    tile('conversations', n('conversations')), tile('sign-ups', n('signups')), tile('guests', n('guests')),
    tile('conversations / user', d.conversationsPerUser.toFixed(1)));
  columns(document.getElementById('chart-hourly'), [
    { name: 'user messages', points: d.userMessagesPerHour },
    { name: 'assistant turns', points: d.assistantTurnsPerHour },
  ], { label: hourLabel, title: 'messages per hour' });
  columns(document.getElementById('chart-dau'), [{ name: 'users', points: d.dailyActiveUsers }], { label: dayLabel, title: 'daily active users' });
  columns(document.getElementById('chart-mau'), [{ name: 'users', points: d.monthlyActiveUsers }], { label: monthLabel, title: 'monthly active users' });
  bars(document.getElementById('top-recommended'), d.topRecommended, 'recommended products');
  bars(document.getElementById('top-opened'), d.topOpened, 'opened products');
  bars(document.getElementById('top-compared'), d.topCompared, 'compared products');
  bars(document.getElementById('top-nomatch'), d.noMatchQueries, 'no-match queries');
  const lag = d.consumers.map((c) => ({ key: `consumer ${c.consumer} (events)`, value: c.events }));
  if (d.slotLagBytes !== null && d.slotLagBytes !== undefined) lag.push({ key: 'replication slot (KiB)', value: Math.round(d.slotLagBytes / 1024) });
  bars(document.getElementById('lag'), lag, 'lag');
}

async function load(token) {
  const status = document.getElementById('status');
  const res = await fetch('/api/admin/analytics', { headers: { 'X-Admin-Token': token, Accept: 'application/json' }, cache: 'no-store' }).catch(() => null);
  if (!res || !res.ok) {
    status.className = 'status error';
    status.textContent = !res ? 'The server cannot be reached.' : res.status === 403 ? 'That admin token is not valid.' : `The dashboard is not available (${res.status}).`;
    document.getElementById('dash').hidden = true;
    return false;
  }
  const data = await res.json();
  render(data);
  status.className = 'status';
  status.textContent = data.enabled ? `Updated ${new Date().toLocaleTimeString()}.` : 'Analytics is switched off on this instance (Analytics:Enabled=false); the figures are the last ones stored.';
  document.getElementById('dash').hidden = false;
  return true;
}

if (typeof document !== 'undefined' && document.getElementById('token-form')) {
  const form = document.getElementById('token-form');
  const input = document.getElementById('token');
  let timer = null;
  const start = async (token) => {
    clearInterval(timer);
    if (await load(token)) {
      sessionStorage.setItem(KEY, token);
      timer = setInterval(() => load(token), 15000);
    } else sessionStorage.removeItem(KEY);
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); start(input.value); });
  const saved = sessionStorage.getItem(KEY);
  if (saved) start(saved);
}
