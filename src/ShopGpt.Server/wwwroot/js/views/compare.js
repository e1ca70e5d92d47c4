// A product comparison that reads on any width: on a wide bubble a table (one column per
// product, names wrap, fixed layout so nothing pushes the page sideways); on a narrow one
// (container query in app.css, not the viewport: the chat column is narrower than the window)
// each product becomes a card listing the same rows. Both come from one model, so the chat
// (markdown comparison tables) and the shortlist (GET /api/products/compare) render alike.
//
// model = { columns: [content], rows: [{ label: content, cells: [content] }], verdict?: content, caption?: string }
// content = string | Node (cloned where it appears twice) | null (shown as "—")
import { h } from '../dom.js';

const node = (c) => (c === null || c === undefined || c === '' ? '—' : c instanceof Node ? c.cloneNode(true) : String(c));

export function renderComparison(model) {
  const columns = Array.isArray(model?.columns) ? model.columns : [];
  const rows = (Array.isArray(model?.rows) ? model.rows : []).filter((r) => r && Array.isArray(r.cells));
  const caption = model?.caption ?? 'Product comparison';

  const table = h(
    'table',
    { class: 'compare-table' },
    h('caption', { class: 'sr-only' }, caption),
    h('colgroup', {}, h('col', { class: 'compare-label-col' }), columns.map(() => h('col', {}))),
    h('thead', {}, h('tr', {}, h('td', {}), columns.map((c) => h('th', { scope: 'col' }, node(c))))),
    h(
      'tbody',
      {},
      rows.map((r) => h('tr', {}, h('th', { scope: 'row' }, node(r.label)), columns.map((_, i) => h('td', {}, node(r.cells[i]))))),
    ),
  );

  const cards = h(
    'ul',
    { class: 'compare-cards', 'aria-label': caption },
    columns.map((c, i) =>
      h(
        'li',
        { class: 'compare-card' },
        h('p', { class: 'compare-card-name' }, node(c)),
        h('dl', {}, rows.map((r) => [h('dt', {}, node(r.label)), h('dd', {}, node(r.cells[i]))])),
      ),
    ),
  );

  return h(
    'div',
    { class: 'compare', role: 'region', 'aria-label': caption, dataset: { columns: String(columns.length) } },
    table,
    cards,
    model?.verdict ? h('p', { class: 'compare-verdict' }, node(model.verdict)) : null,
  );
}

/**
 * The model for products from GET /api/products/compare?ids=... ({items, rows, verdict}):
 * the server builds the rows (the same ones the assistant writes), this only lays them out.
 */
export function comparisonFromResponse(res) {
  const items = Array.isArray(res?.items) ? res.items : [];
  return {
    columns: items.map((p) => (typeof p?.name === 'string' ? p.name : null)),
    rows: (Array.isArray(res?.rows) ? res.rows : []).map((r) => ({ label: r?.label ?? null, cells: Array.isArray(r?.values) ? r.values : [] })),
    verdict: typeof res?.verdict === 'string' ? res.verdict : null,
  };
}
