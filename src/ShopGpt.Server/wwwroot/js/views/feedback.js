// Thumbs up/down on each stored assistant answer, with an optional reason for a thumbs down
// (PUT/DELETE /api/conversations/{cid}/messages/{mid}/feedback); votes are re-read per conversation.
import { h } from '../dom.js';
import { enc } from '../api.js';

export function mountFeedback({ api }) {
  const votes = new Map(); // message id -> 'up' | 'down'
  const bars = new Map(); // message id -> render function

  async function load(cid) {
    votes.clear();
    try {
      const res = await api.get(`/api/conversations/${enc(cid)}/feedback`);
      for (const v of res.items) votes.set(v.messageId, v.rating);
    } catch {
      return;
    }
    for (const [id, render] of bars) if (render.isConnected()) render();
  }

  function attach(el, cid, mid) {
    el.querySelector('.msg-feedback')?.remove();
    const status = h('span', { class: 'muted small', role: 'status' });
    // Text, not emoji: no colour-emoji font is guaranteed (headless Chromium on Debian has none).
    const up = h('button', { type: 'button', class: 'btn btn-ghost btn-small fb-up' }, h('span', { 'aria-hidden': 'true' }, '▲ '), 'Helpful');
    const down = h('button', { type: 'button', class: 'btn btn-ghost btn-small fb-down' }, h('span', { 'aria-hidden': 'true' }, '▼ '), 'Not helpful');
    const reason = h('input', { class: 'fb-reason-input', maxLength: 500, placeholder: 'What was wrong? (optional)', 'aria-label': 'What was wrong with this answer (optional)' });
    const form = h('form', { class: 'fb-reason', hidden: true }, reason, h('button', { type: 'submit', class: 'btn btn-secondary btn-small' }, 'Send'));
    const bar = h('div', { class: 'msg-feedback' }, up, down, status, form);
    const render = () => {
      up.setAttribute('aria-pressed', String(votes.get(mid) === 'up'));
      down.setAttribute('aria-pressed', String(votes.get(mid) === 'down'));
    };
    render.isConnected = () => bar.isConnected;
    bars.set(mid, render);
    render();

    async function vote(rating, why) {
      const url = `/api/conversations/${enc(cid)}/messages/${enc(mid)}/feedback`;
      try {
        if (votes.get(mid) === rating && why === undefined) {
          await api.del(url).catch((e) => {
            if (e.status !== 404) throw e;
          });
          votes.delete(mid);
          status.textContent = 'Feedback removed.';
        } else {
          await api.put(url, { rating, reason: why || undefined });
          votes.set(mid, rating);
          status.textContent = 'Thanks for the feedback.';
        }
      } catch (e) {
        status.textContent = `Feedback not saved: ${e.message}`;
      }
      render();
    }
    up.addEventListener('click', () => {
      form.hidden = true;
      vote('up');
    });
    down.addEventListener('click', async () => {
      const was = votes.get(mid);
      await vote('down');
      form.hidden = was === 'down' || votes.get(mid) !== 'down';
      if (!form.hidden) reason.focus();
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      await vote('down', reason.value.trim());
      form.hidden = true;
      down.focus();
    });
    el.append(bar);
  }

  return { load, attach };
}
