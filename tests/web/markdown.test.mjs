// The markdown subset parses to plain data; these tests pin the shapes the DOM renderer uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMarkdown, parseInline, plainText } from '../../src/ShopGpt.Server/wwwroot/js/markdown.js';

const t = (text) => ({ type: 'text', text });
const b = (text) => ({ type: 'strong', children: [t(text)] });

test('paragraphs are split on blank lines; single newlines stay inside', () => {
  assert.deepEqual(parseMarkdown('one\ntwo\n\nthree'), [
    { type: 'p', inline: [t('one\ntwo')] },
    { type: 'p', inline: [t('three')] },
  ]);
});

test('bold is parsed; an unclosed ** stays literal', () => {
  assert.deepEqual(parseInline('a **b** c'), [t('a '), b('b'), t(' c')]);
  assert.deepEqual(parseInline('a **b'), [t('a **b')]);
  assert.deepEqual(parseInline('****'), [t('****')]);
});

test('markup in message text is just text', () => {
  const blocks = parseMarkdown('<img src=x onerror=alert(1)> **<script>**');
  assert.deepEqual(blocks, [{ type: 'p', inline: [t('<img src=x onerror=alert(1)> '), b('<script>')] }]);
});

test('"- " bullets become one list', () => {
  assert.deepEqual(parseMarkdown('Options:\n- **Spigen** case\n- OtterBox\n\nDone'), [
    { type: 'p', inline: [t('Options:')] },
    { type: 'ul', items: [[b('Spigen'), t(' case')], [t('OtterBox')]] },
    { type: 'p', inline: [t('Done')] },
  ]);
});

test('pipe tables have a header, alignment and rows normalised to its width', () => {
  const [table] = parseMarkdown('| Name | Price |\n|:--|--:|\n| A | $10 |\n| B |\n| C | $3 | extra |');
  assert.equal(table.type, 'table');
  assert.deepEqual(table.header, [[t('Name')], [t('Price')]]);
  assert.deepEqual(table.align, ['left', 'right']);
  assert.deepEqual(table.rows, [
    [[t('A')], [t('$10')]],
    [[t('B')], []],
    [[t('C')], [t('$3')]],
  ]);
});

test('a pipe line without a separator row is a paragraph', () => {
  assert.deepEqual(parseMarkdown('| not a table'), [{ type: 'p', inline: [t('| not a table')] }]);
});

test('while streaming, a table header waiting for its separator is held back', () => {
  assert.deepEqual(parseMarkdown('Compare:\n| Name | Price |', { streaming: true }), [
    { type: 'p', inline: [t('Compare:')] },
  ]);
  const done = parseMarkdown('Compare:\n| Name | Price |\n|---|---|\n| A | 1 |\n| B', { streaming: true });
  assert.equal(done[1].type, 'table');
  assert.equal(done[1].rows.length, 1, 'the half-typed row waits');
});

test('plainText flattens the tree', () => {
  assert.equal(plainText(parseMarkdown('**Hi**\n\n- a\n- b')), 'Hi\n\n• a\n• b');
});

test('the catalog responder\'s comparison (empty corner cell, bold names) is a table', () => {
  const text = 'Side by side:\n\n| | **Spigen Case** | **OtterBox Case** |\n|---|---|---|\n| Price | $15.99 | $29.95 |\n| Rating | 4.7/5 | not rated |\n\n**Spigen Case** is the less expensive choice.';
  const blocks = parseMarkdown(text);
  assert.deepEqual(blocks.map((x) => x.type), ['p', 'table', 'p']);
  assert.deepEqual(blocks[1].header, [[], [b('Spigen Case')], [b('OtterBox Case')]]);
  assert.deepEqual(blocks[1].rows[1], [[t('Rating')], [t('4.7/5')], [t('not rated')]]);
});

test('bullets with an em dash and bold names', () => {
  assert.deepEqual(parseMarkdown('- **Case A** — $12.34, rated 4.5\n- **Case B** — $20.00'), [
    { type: 'ul', items: [[b('Case A'), t(' — $12.34, rated 4.5')], [b('Case B'), t(' — $20.00')]] },
  ]);
});
