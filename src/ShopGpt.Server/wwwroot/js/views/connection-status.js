// The connection pill ("Connected" / "Reconnecting in 4s" / "Offline, 2 queued") and the small
// debug panel with the socket's metrics.
import { $, h } from '../dom.js';

export function mountConnectionStatus(socket) {
  const btn = $('#conn-btn');
  const text = $('#conn-text');
  const panel = $('#debug-panel');
  const list = $('#debug-list');
  let tick = null;

  btn.addEventListener('click', () => {
    const open = panel.hidden;
    panel.hidden = !open;
    btn.setAttribute('aria-expanded', String(open));
    render();
  });
  $('#reconnect-btn').addEventListener('click', () => socket.reconnect());

  function label(s) {
    const queued = s.queueLength > 0 ? `, ${s.queueLength} queued` : '';
    switch (s.state) {
      case 'open':
        return s.queueLength > 0 ? `Connected, sending ${s.queueLength}` : 'Connected';
      case 'connecting':
        return `Connecting…${queued}`;
      case 'reconnecting': {
        if (s.nextRetryAt === null) return `Reconnecting…${queued}`;
        const secs = Math.max(0, Math.ceil((s.nextRetryAt - Date.now()) / 1000));
        return secs > 0 ? `Reconnecting in ${secs}s${queued}` : `Reconnecting…${queued}`;
      }
      case 'offline':
        return `Offline${queued}`;
      case 'unauthorized':
        return `Live updates paused (sign-in needed)${queued}`;
      case 'blocked':
        return `Disconnected by the server${queued}`;
      default:
        return `Disconnected${queued}`;
    }
  }

  function render() {
    const s = socket.snapshot();
    btn.dataset.state = s.state;
    const l = label(s);
    // Only touch the live region when the words change, so screen readers are not spammed.
    if (text.textContent !== l) text.textContent = l;
    btn.title = 'Connection details';
    if (!panel.hidden) {
      const rows = [
        ['State', s.state],
        ['Reconnects', s.reconnects],
        ['Attempts', s.attempts],
        ['Round trip', s.rttMs === null ? '—' : `${s.rttMs} ms`],
        ['Queued', s.queueLength],
        ['Last close', s.lastCloseCode === null ? '—' : `${s.lastCloseCode}${s.lastCloseReason ? ` (${s.lastCloseReason})` : ''}`],
        ['Backoff step', s.attempt],
        ['Connection', s.connectionId ?? '—'],
      ];
      list.replaceChildren(...rows.map(([k, v]) => h('div', { class: 'debug-item' }, h('dt', {}, k), h('dd', {}, String(v)))));
    }
    // A countdown needs a clock; everything else is event driven.
    const needsTick = s.state === 'reconnecting' || !panel.hidden;
    if (needsTick && tick === null) tick = setInterval(render, 1000);
    if (!needsTick && tick !== null) {
      clearInterval(tick);
      tick = null;
    }
  }

  for (const ev of ['state', 'queue', 'metrics', 'close']) socket.on(ev, render);
  render();
  return { render };
}
