// Product cards for a message's `products` array. Every field may be null: a missing value
// is left out, never replaced by a made-up one (no "$0.00", no "0 stars").
import { h, safeUrl } from '../dom.js';

const priceFmt = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const countFmt = new Intl.NumberFormat('en-US');

const num = (v) => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
};
const str = (v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/**
 * @param {object[]} products
 * @param {{shortlist?: {has: (id: string) => boolean, toggle: (p: object) => Promise<void>}, onDetails?: (id: string) => void}} [actions]
 */
export function renderProducts(products, actions = {}) {
  const list = (Array.isArray(products) ? products : []).filter((p) => p && typeof p === 'object');
  if (list.length === 0) return null;
  return h('ul', { class: 'products', 'aria-label': `${list.length} product${list.length === 1 ? '' : 's'}` }, list.map((p) => card(p, actions)));
}

/** Brings every card's Save button in line with the shortlist (after a change on any tab). */
export function refreshSaveButtons(root, shortlist) {
  for (const b of root.querySelectorAll('.save-btn')) setSaved(b, shortlist.has(b.dataset.productId));
}

// The visible word plus the product's name for screen readers (a card has several buttons).
function setSaved(btn, saved) {
  btn.setAttribute('aria-pressed', String(saved));
  btn.replaceChildren(saved ? 'Saved ✓' : 'Save', h('span', { class: 'sr-only' }, ` ${btn.dataset.name}`));
}

function card(p, { shortlist, onDetails } = {}) {
  const name = str(p.name);
  const brand = str(p.brand);
  const price = num(p.price);
  const rating = num(p.rating);
  const reviews = num(p.reviewCount);
  const url = safeUrl(p.url);
  const img = safeUrl(p.imageUrl);

  // The image box has a fixed aspect ratio whether or not the image loads: no layout jump.
  const media = h('div', { class: 'card-media' });
  if (img) {
    const el = h('img', { src: img, alt: '', loading: 'lazy', decoding: 'async', width: 160, height: 160, referrerPolicy: 'no-referrer' });
    el.addEventListener('error', () => {
      el.remove();
      media.classList.add('card-media-missing');
    });
    media.append(el);
  } else {
    media.classList.add('card-media-missing');
  }

  const title = name ?? (url ? 'View product' : null);
  // With a detail drawer the name opens it (the retailer link lives there); without, it links out.
  const heading = title
    ? h('h3', { class: 'card-name' },
      onDetails && p.id ? h('button', { type: 'button', class: 'link-btn', 'data-opens-product': String(p.id), onclick: () => onDetails(String(p.id)) }, title)
        : url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', 'data-opens-product': str(p.id) ?? '' }, title) : title)
    : null;
  let save = null;
  if (shortlist && p.id) {
    save = h('button', { type: 'button', class: 'btn btn-ghost btn-small save-btn', dataset: { productId: String(p.id), name: name ?? 'product' } });
    save.addEventListener('click', async () => {
      await shortlist.toggle(p);
      setSaved(save, shortlist.has(String(p.id)));
    });
    setSaved(save, shortlist.has(String(p.id)));
  }

  let ratingEl = null;
  if (rating !== null || reviews !== null) {
    const parts = [];
    const label = [];
    if (rating !== null) {
      parts.push(h('span', { class: 'stars', 'aria-hidden': 'true' }, '★'), ` ${rating.toFixed(1)}`);
      label.push(`Rated ${rating.toFixed(1)} out of 5`);
    }
    if (reviews !== null) {
      parts.push(h('span', { class: 'reviews' }, rating !== null ? ` (${countFmt.format(reviews)})` : `${countFmt.format(reviews)} reviews`));
      label.push(`${countFmt.format(reviews)} reviews`);
    }
    ratingEl = h('p', { class: 'card-rating', 'aria-label': label.join(', '), role: 'img' }, parts);
  }

  return h(
    'li',
    { class: 'card', dataset: p.id ? { productId: String(p.id) } : {} },
    media,
    h(
      'div',
      { class: 'card-body' },
      heading,
      brand ? h('p', { class: 'card-brand' }, brand) : null,
      h('div', { class: 'card-foot' }, price !== null ? h('p', { class: 'card-price' }, priceFmt.format(price)) : null, ratingEl),
      save,
    ),
  );
}
