// Turns the data tree of markdown.js into DOM nodes. Text only ever enters the page through
// createTextNode, so a message can never inject markup (CSP is the second line of defence).
import { parseMarkdown } from './markdown.js';
import { renderComparison } from './views/compare.js';

export function renderMarkdown(text, doc = document, opts = {}) {
  const frag = doc.createDocumentFragment();
  for (const block of parseMarkdown(text, opts)) frag.append(renderBlock(block, doc));
  return frag;
}

function renderBlock(block, doc) {
  if (block.type === 'p') return renderInline(doc.createElement('p'), block.inline, doc);
  if (block.type === 'ul') {
    const ul = doc.createElement('ul');
    for (const item of block.items) ul.append(renderInline(doc.createElement('li'), item, doc));
    return ul;
  }
  // A comparison ("| | A | B |": an empty corner, row labels in the first column) gets the
  // comparison view: a table on wide screens, one card per product on narrow ones.
  if (block.header.length > 1 && block.header[0].length === 0) {
    const inline = (cell) => renderInline(doc.createDocumentFragment(), cell, doc);
    const wrapInline = (cell) => {
      const span = doc.createElement('span');
      span.append(inline(cell));
      return span;
    };
    return renderComparison({
      columns: block.header.slice(1).map(wrapInline),
      rows: block.rows.map((row) => ({ label: wrapInline(row[0] ?? []), cells: row.slice(1).map(wrapInline) })),
    });
  }
  // Other tables scroll sideways inside their own box on narrow screens instead of widening the page.
  const wrap = doc.createElement('div');
  wrap.className = 'md-table';
  wrap.tabIndex = 0; // keyboard users can scroll it
  wrap.setAttribute('role', 'region');
  wrap.setAttribute('aria-label', 'Comparison table');
  const table = doc.createElement('table');
  const thead = doc.createElement('thead');
  const hr = doc.createElement('tr');
  block.header.forEach((cell, i) => {
    const th = renderInline(doc.createElement('th'), cell, doc);
    th.scope = 'col';
    if (block.align[i]) th.className = `align-${block.align[i]}`;
    hr.append(th);
  });
  thead.append(hr);
  const tbody = doc.createElement('tbody');
  // A comparison with an empty corner cell ("| | A | B |") has row labels in its first column:
  // mark them as row headers so screen readers announce "Price, A: $12".
  const rowHeaders = block.header.length > 1 && block.header[0].length === 0;
  for (const row of block.rows) {
    const tr = doc.createElement('tr');
    row.forEach((cell, i) => {
      const td = renderInline(doc.createElement(rowHeaders && i === 0 ? 'th' : 'td'), cell, doc);
      if (rowHeaders && i === 0) td.scope = 'row';
      if (block.align[i]) td.className = `align-${block.align[i]}`;
      tr.append(td);
    });
    tbody.append(tr);
  }
  table.append(thead, tbody);
  wrap.append(table);
  return wrap;
}

function renderInline(el, nodes, doc) {
  for (const n of nodes) {
    if (n.type === 'text') appendText(el, n.text, doc);
    else el.append(renderInline(doc.createElement('strong'), n.children, doc));
  }
  return el;
}

/** Line breaks inside a paragraph become <br>: the assistant uses them for short lists. */
function appendText(el, text, doc) {
  const parts = text.split('\n');
  parts.forEach((part, i) => {
    if (i > 0) el.append(doc.createElement('br'));
    if (part) el.append(doc.createTextNode(part));
  });
}
