// The shortlist: saved products (GET/PUT/DELETE /api/shortlist), kept live by `shortlist` frames
// on the user's own topic (docs/api-extensions.md), the panel, and the 2-4 product comparison.
import { $, h } from '../dom.js';
import { enc } from '../api.js';
import { openDialog, wireDialog } from './dialogs.js';
import { renderComparison, comparisonFromResponse } from './compare.js';

export function mountShortlist({ api, socket, userId, onDetails }) {
  const items = new Map(); // productId -> {productId, addedAt, product}
  const listeners = new Set();
  const selected = new Set();
  const panel = $('#shortlist-panel');
  const list = $('#shortlist-list');
  const empty = $('#shortlist-empty');
  const count = $('#shortlist-count');
  const compareBtn = $('#compare-btn');
  const status = $('#shortlist-status');
  const compareDialog = $('#compare-dialog');
  wireDialog(panel);
  wireDialog(compareDialog);

  function changed() {
    for (const id of [...selected]) if (!items.has(id)) selected.delete(id);
    count.textContent = String(items.size);
    render();
    for (const fn of listeners) fn();
  }

  async function reload() {
    try {
      const res = await api.get('/api/shortlist');
      items.clear();
      for (const it of res.items) items.set(it.productId, it);
      changed();
    } catch {
      // offline: the next `subscribed` reloads
    }
  }

  function sorted() {
    return [...items.values()].sort((a, b) => (a.addedAt < b.addedAt ? 1 : a.addedAt > b.addedAt ? -1 : 0));
  }

  function render() {
    empty.hidden = items.size > 0;
    list.replaceChildren(
      ...sorted().map((it) => {
        const p = it.product;
        const name = p?.name ?? it.productId;
        const box = h('input', {
          type: 'checkbox',
          id: `cmp-${it.productId}`,
          checked: selected.has(it.productId),
          disabled: !selected.has(it.productId) && selected.size >= 4,
          onchange: (e) => {
            if (e.target.checked) selected.add(it.productId);
            else selected.delete(it.productId);
            render();
            $(`#cmp-${CSS.escape(it.productId)}`)?.focus();
          },
        });
        return h(
          'li',
          { class: 'shortlist-item', dataset: { productId: it.productId } },
          h('span', { class: 'shortlist-check' }, box, h('label', { for: `cmp-${it.productId}`, class: 'sr-only' }, `Compare ${name}`)),
          h(
            'div',
            { class: 'shortlist-main' },
            h('button', { type: 'button', class: 'link-btn shortlist-name', onclick: () => onDetails(it.productId) }, name),
            h('span', { class: 'muted small' }, [p?.brand, p?.price != null ? `$${Number(p.price).toFixed(2)}` : null].filter(Boolean).join(' · ')),
          ),
          h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'aria-label': `Remove ${name}`, onclick: () => remove(it.productId) }, 'Remove'),
        );
      }),
    );
    compareBtn.disabled = selected.size < 2;
    compareBtn.textContent = selected.size >= 2 ? `Compare ${selected.size} selected` : 'Compare selected (pick 2–4)';
  }

  async function save(product) {
    try {
      const it = await api.put(`/api/shortlist/${enc(product.id)}`);
      items.set(it.productId, it);
      changed();
    } catch (e) {
      status.textContent = `Could not save: ${e.message}`;
    }
  }

  async function remove(id) {
    try {
      await api.del(`/api/shortlist/${enc(id)}`);
    } catch (e) {
      if (e.status !== 404) {
        status.textContent = `Could not remove: ${e.message}`;
        return;
      }
    }
    items.delete(id);
    changed();
    if (panel.open) (list.querySelector('button') ?? panel.querySelector('[data-close]')).focus();
  }

  compareBtn.addEventListener('click', async () => {
    const ids = sorted().map((it) => it.productId).filter((id) => selected.has(id));
    status.textContent = 'Comparing…';
    try {
      const table = await api.post('/api/shortlist/compare', { productIds: ids });
      status.textContent = '';
      $('#compare-body').replaceChildren(renderComparison(comparisonFromResponse(table)));
      openDialog(compareDialog, compareBtn);
    } catch (e) {
      status.textContent = `Could not compare: ${e.message}`;
    }
  });

  $('#shortlist-btn').addEventListener('click', (e) => {
    openDialog(panel, e.currentTarget);
    (list.querySelector('input,button') ?? panel.querySelector('[data-close]')).focus();
  });

  // Live: another tab or device saved or removed something.
  socket.on('shortlist', (f) => {
    if (f.cid !== userId) return;
    if (f.op === 'saved') items.set(f.productId, { productId: f.productId, addedAt: f.addedAt, product: f.product ?? null });
    else if (f.op === 'removed') items.delete(f.productId);
    changed();
  });
  // Every (re)subscription of the topic re-reads the list: repairs whatever was missed offline.
  socket.on('subscribed', (f) => {
    if (f.cid === userId) reload();
  });
  socket.follow(userId, 0);
  reload();

  return {
    has: (id) => items.has(id),
    toggle: (product) => (items.has(product.id) ? remove(product.id) : save(product)),
    onChange: (fn) => listeners.add(fn),
  };
}
