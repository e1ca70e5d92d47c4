// A deliberately small markdown subset for assistant answers: paragraphs, **bold**, "- "
// bullet lists and pipe tables (comparisons). It parses to plain data (no DOM, no HTML
// strings) so it is testable in Node and so message text can only ever become text nodes:
// markdown-dom.js builds elements from this tree with textContent, never innerHTML.
//
// Block = {type:'p', inline} | {type:'ul', items:[inline]} | {type:'table', header:[inline], align:[...], rows:[[inline]]}
// inline = [{type:'text', text} | {type:'strong', children: inline}]

const BULLET = /^\s*[-*•]\s+(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

/**
 * @param {string} text
 * @param {{streaming?: boolean}} [opts] while streaming, a table header not yet followed by
 *        its separator row (and a half-typed last table line) is held back, so the text does
 *        not flash as a paragraph and then jump into a table.
 */
export function parseMarkdown(text, opts = {}) {
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  if (opts.streaming && lines.length && isTableRow(lines[lines.length - 1])) lines.pop();
  const blocks = [];
  let para = [];
  const flushPara = () => {
    if (para.length) blocks.push({ type: 'p', inline: parseInline(para.join('\n')) });
    para = [];
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') {
      flushPara();
      continue;
    }
    if (isTableRow(line) && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      flushPara();
      const header = splitRow(line);
      const align = splitRow(lines[i + 1]).map(alignmentOf);
      const rows = [];
      i += 2;
      while (i < lines.length && isTableRow(lines[i])) {
        const cells = splitRow(lines[i]);
        // Rows are normalised to the header's width: extra cells are dropped, missing ones empty.
        rows.push(header.map((_, c) => parseInline(cells[c] ?? '')));
        i++;
      }
      i--;
      blocks.push({ type: 'table', header: header.map((h) => parseInline(h)), align, rows });
      continue;
    }
    if (opts.streaming && isTableRow(line) && i === lines.length - 1) continue;
    const bullet = BULLET.exec(line);
    if (bullet) {
      flushPara();
      const items = [parseInline(bullet[1])];
      while (i + 1 < lines.length && BULLET.test(lines[i + 1])) {
        i++;
        items.push(parseInline(BULLET.exec(lines[i])[1]));
      }
      blocks.push({ type: 'ul', items });
      continue;
    }
    para.push(line);
  }
  flushPara();
  return blocks;
}

function isTableRow(line) {
  const t = line.trim();
  return t.startsWith('|') && t.length > 1;
}

function splitRow(line) {
  let t = line.trim();
  if (t.startsWith('|')) t = t.slice(1);
  if (t.endsWith('|') && !t.endsWith('\\|')) t = t.slice(0, -1);
  // "\|" is a literal pipe inside a cell.
  return t.split(/(?<!\\)\|/).map((c) => c.replace(/\\\|/g, '|').trim());
}

function alignmentOf(sep) {
  const left = sep.startsWith(':');
  const right = sep.endsWith(':');
  return left && right ? 'center' : right ? 'right' : left ? 'left' : null;
}

/** Inline: only **bold**. An unmatched "**" stays literal text (common while streaming). */
export function parseInline(text) {
  const out = [];
  let rest = String(text);
  for (;;) {
    const open = rest.indexOf('**');
    if (open < 0) break;
    const close = rest.indexOf('**', open + 2);
    if (close < 0) break;
    const inner = rest.slice(open + 2, close);
    if (inner.trim() === '') {
      pushText(out, rest.slice(0, close + 2));
      rest = rest.slice(close + 2);
      continue;
    }
    pushText(out, rest.slice(0, open));
    out.push({ type: 'strong', children: [{ type: 'text', text: inner }] });
    rest = rest.slice(close + 2);
  }
  pushText(out, rest);
  return out;
}

function pushText(out, text) {
  if (!text) return;
  const last = out[out.length - 1];
  if (last?.type === 'text') last.text += text;
  else out.push({ type: 'text', text });
}

/** Plain text of a parsed tree (previews, accessible names). */
export function plainText(blocks) {
  const inline = (nodes) => nodes.map((n) => (n.type === 'text' ? n.text : inline(n.children))).join('');
  return blocks
    .map((b) =>
      b.type === 'p'
        ? inline(b.inline)
        : b.type === 'ul'
          ? b.items.map((i) => `• ${inline(i)}`).join('\n')
          : [b.header, ...b.rows].map((r) => r.map(inline).join(' | ')).join('\n'),
    )
    .join('\n\n');
}
