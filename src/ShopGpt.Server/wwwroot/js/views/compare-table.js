// A comparison table ({products, rows:[{label, values, best}]}, docs/api-extensions.md): one
// column per product; the best value of a row is marked in text, not only by colour.
import { h } from '../dom.js';

export function renderComparison(table, { onDetails } = {}) {
  const products = table?.products ?? [];
  return h(
    'div',
    { class: 'compare-scroll', tabindex: '0', role: 'region', 'aria-label': 'Comparison table' },
    h(
      'table',
      { class: 'compare-table' },
      h('caption', { class: 'sr-only' }, `Comparing ${products.length} products`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Attribute')),
          products.map((p) =>
            h('th', { scope: 'col' }, onDetails ? h('button', { type: 'button', class: 'link-btn', onclick: () => onDetails(p.id) }, p.name) : p.name),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        (table?.rows ?? []).map((r) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, r.label),
            r.values.map((v, i) =>
              h('td', { class: r.best === i ? 'best' : '' }, v ?? h('span', { class: 'muted' }, '—'), r.best === i ? h('span', { class: 'best-tag' }, ' best') : null),
            ),
          ),
        ),
      ),
    ),
  );
}
