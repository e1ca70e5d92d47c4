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

export function renderProducts(products) {
  const list = (Array.isArray(products) ? products : []).filter((p) => p && typeof p === 'object');
  if (list.length === 0) return null;
  return h('ul', { class: 'products', 'aria-label': `${list.length} product${list.length === 1 ? '' : 's'}` }, list.map(card));
}

function card(p) {
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
  const heading = title
    ? h('h3', { class: 'card-name' }, url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', 'data-product-id': str(p.id) ?? '' }, title) : title)
    : null;

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
    ),
  );
}
