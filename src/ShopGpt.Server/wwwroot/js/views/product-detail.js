// Product detail drawer: every field the catalog has for a product (GET /api/products/{id}),
// including any extracted attributes, and the products most often compared with it. A retailer
// link only when the catalog carries one; a missing value is left out, never invented.
import { $, h, safeUrl } from '../dom.js';
import { enc } from '../api.js';
import { openDialog, wireDialog } from './dialogs.js';

const KNOWN = new Set(['id', 'name', 'description', 'brand', 'categories', 'price', 'rating', 'reviewCount', 'imageUrl', 'url', 'reviews', 'categoryPath']);
const label = (k) => k.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
const show = (v) => (Array.isArray(v) ? v.join(', ') : typeof v === 'boolean' ? (v ? 'Yes' : 'No') : String(v));

export function mountProductDetail({ api, shortlist }) {
  const dialog = $('#product-dialog');
  const body = $('#product-body');
  const title = $('#product-title');
  wireDialog(dialog);
  let gen = 0;

  async function open(id, opener = document.activeElement) {
    const mine = ++gen;
    title.textContent = 'Loading…';
    body.replaceChildren(h('p', { class: 'muted', role: 'status' }, 'Loading product…'));
    openDialog(dialog, dialog.open ? dialog._opener : opener);
    try {
      const [p, related] = await Promise.all([
        api.get(`/api/products/${enc(id)}`),
        api.get(`/api/products/${enc(id)}/compared-with`).catch(() => ({ items: [] })),
      ]);
      if (mine !== gen) return;
      render(p, related.items ?? []);
    } catch (e) {
      if (mine !== gen) return;
      title.textContent = 'Product';
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.status === 404 ? 'This product is no longer in the catalog.' : `Could not load: ${e.message}`));
    }
  }

  function render(p, related) {
    title.textContent = p.name;
    const img = safeUrl(p.imageUrl);
    const url = safeUrl(p.url);
    const facts = [];
    const add = (k, v) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0) && facts.push([k, v]);
    add('Brand', p.brand);
    add('Price', typeof p.price === 'number' ? `$${p.price.toFixed(2)}` : null);
    add('Rating', typeof p.rating === 'number' ? `${p.rating.toFixed(1)} out of 5` : null);
    add('Reviews', typeof p.reviewCount === 'number' ? p.reviewCount.toLocaleString('en-US') : null);
    add('Category', Array.isArray(p.categories) ? p.categories.join(' › ') : null);
    // Whatever else the catalog extracted (product type, storage, colour ...), flat or nested.
    for (const [k, v] of Object.entries(p)) {
      if (KNOWN.has(k) || v === null) continue;
      if (typeof v === 'object' && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) add(label(k2), v2 === null ? null : show(v2));
      else add(label(k), show(v));
    }
    const saveBtn = h('button', { type: 'button', class: 'btn btn-secondary', 'aria-pressed': String(shortlist.has(p.id)), onclick: async () => {
      await shortlist.toggle(p);
      saveBtn.setAttribute('aria-pressed', String(shortlist.has(p.id)));
      saveBtn.textContent = shortlist.has(p.id) ? 'Saved ✓' : 'Save';
    } }, shortlist.has(p.id) ? 'Saved ✓' : 'Save');
    const imgEl = img ? h('img', { class: 'detail-img', src: img, alt: '', width: 200, height: 200, referrerPolicy: 'no-referrer' }) : null;
    // An image that cannot load (offline, moved) leaves no broken box behind.
    imgEl?.addEventListener('error', () => imgEl.remove());
    body.replaceChildren(...[
      imgEl,
      h('div', { class: 'detail-actions' }, saveBtn, url ? h('a', { class: 'btn btn-ghost', href: url, target: '_blank', rel: 'noopener noreferrer' }, 'View at the retailer ↗') : null),
      h('dl', { class: 'detail-facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      p.description ? [h('h3', {}, 'Description'), h('p', { class: 'detail-desc' }, p.description)] : null,
      Array.isArray(p.reviews) && p.reviews.length > 0
        ? [h('h3', {}, 'Reviews'), h('ul', { class: 'detail-reviews' }, p.reviews.slice(0, 5).map((r) => h('li', {}, typeof r === 'string' ? r : r.text ?? '')))]
        : null,
      related.length > 0
        ? [h('h3', {}, 'Often compared with'), h('ul', { class: 'detail-related' }, related.map((r) => h('li', {}, h('button', { type: 'button', class: 'link-btn', onclick: () => open(r.id) }, r.name), typeof r.price === 'number' ? h('span', { class: 'muted small' }, ` $${r.price.toFixed(2)}`) : null)))]
        : null,
    ].flat().filter(Boolean));
    dialog.querySelector('[data-close]').focus();
  }

  return { open };
}
