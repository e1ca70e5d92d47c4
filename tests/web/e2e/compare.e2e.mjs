// The comparison view at phone width, in real headless Chromium against a real server (issue 14):
// "compare the first two" in the chat, and the shortlist's REST comparison rendered by the same
// module (wwwroot/js/views/compare.js), must fit a 390 px viewport without sideways scrolling:
// names wrap, and on a narrow bubble each product becomes a card.
//
// Run: cd tests/web && npm ci && node --test ./e2e/compare.e2e.mjs   (inside ./shopgpt test's env)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, screenshot, missingPrerequisite } from './harness.mjs';

const skip = missingPrerequisite() ?? false;
const ANSWER_TIMEOUT = Number(process.env.SHOPGPT_E2E_ANSWER_TIMEOUT_MS ?? 60_000);

let server;
let browser;

before(async () => {
  if (skip) return;
  server = await startServer({ log: 'e2e-compare-server.log' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Signs in as a guest unless this browser profile already has a session (the tests share one). */
async function signIn(page) {
  await page.goto(server.url + '/');
  await page.waitForSelector('#guest-btn:visible, #app:not([hidden])');
  if (await page.locator('#guest-btn').isVisible()) await page.click('#guest-btn');
  await page.waitForSelector('#app:not([hidden])');
}

async function send(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

/** Waits until no answer is streaming and `count` assistant messages are shown. */
async function answers(page, count) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('.msg-assistant').length >= n && !document.querySelector('.msg-assistant[aria-busy="true"]'),
    count,
    { timeout: ANSWER_TIMEOUT, polling: 100 },
  );
}

/** Every element of the comparison and the message column: how far anything sticks out sideways. */
const overflow = (page) =>
  page.evaluate(() => {
    const compare = document.querySelector('.msg-assistant .compare');
    const messages = document.querySelector('#messages');
    const box = compare.getBoundingClientRect();
    const sticking = [...compare.querySelectorAll('*')].filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && (r.right > box.right + 0.5 || r.left < box.left - 0.5);
    }).length;
    return {
      compare: compare.scrollWidth - compare.clientWidth,
      messages: messages.scrollWidth - messages.clientWidth,
      page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      sticking,
      cards: getComputedStyle(compare.querySelector('.compare-cards')).display,
      table: getComputedStyle(compare.querySelector('.compare-table')).display,
    };
  });

test('a chat comparison fits a 390 px screen: one card per product, nothing scrolls sideways', { skip, timeout: 180_000 }, async () => {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page);
  await page.waitForFunction(() => globalThis.shopSocket?.state === 'open', null, { timeout: 30_000, polling: 100 });

  await send(page, 'unlocked samsung galaxy phone');
  await answers(page, 1);
  await send(page, 'compare the first two');
  await answers(page, 2);
  await page.waitForSelector('.msg-assistant .compare', { timeout: ANSWER_TIMEOUT });

  const narrow = await overflow(page);
  assert.equal(narrow.cards, 'grid', 'on a narrow screen each product is a card');
  assert.equal(narrow.table, 'none');
  assert.ok(narrow.compare <= 0, `the comparison scrolls sideways by ${narrow.compare}px`);
  assert.ok(narrow.messages <= 0, `the message column scrolls sideways by ${narrow.messages}px`);
  assert.ok(narrow.page <= 0, `the page scrolls sideways by ${narrow.page}px`);
  assert.equal(narrow.sticking, 0, 'no element of the comparison sticks out of it');
  assert.equal(await page.locator('.msg-assistant .compare .compare-card').count(), 2);
  await screenshot(page, 'compare-390');

  await page.setViewportSize({ width: 1280, height: 800 });
  const wide = await overflow(page);
  assert.equal(wide.table, 'table', 'on a wide screen it is a table');
  assert.ok(wide.compare <= 0 && wide.page <= 0, 'the wide table does not overflow either');
  await screenshot(page, 'compare-1280');
  await page.close();
});

test('the REST comparison renders with the same view and fits 390 px', { skip, timeout: 120_000 }, async () => {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page);
  const result = await page.evaluate(async () => {
    const { token } = JSON.parse(localStorage.getItem('shopgpt.session'));
    const get = async (p) => {
      const r = await fetch(p, { headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, body: await r.json() };
    };
    const search = await get('/api/products/search?q=iphone%20case&limit=3');
    const ids = search.body.items.map((p) => p.id);
    const res = await get(`/api/products/compare?ids=${ids.map(encodeURIComponent).join(',')}`);
    const bad = await get('/api/products/compare?ids=only-one');
    const { renderComparison, comparisonFromResponse } = await import('/js/views/compare.js');
    const host = document.querySelector('#message-list') ?? document.body;
    const el = renderComparison(comparisonFromResponse(res.body));
    el.classList.add('rest-compare');
    host.prepend(el);
    return {
      ids,
      status: res.status,
      itemIds: res.body.items.map((p) => p.id),
      labels: res.body.rows.map((r) => r.label),
      verdict: res.body.verdict,
      badStatus: bad.status,
      overflow: el.scrollWidth - el.clientWidth,
      page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      cards: el.querySelectorAll('.compare-card').length,
    };
  });
  assert.equal(result.status, 200);
  assert.deepEqual(result.itemIds, result.ids, 'the products come back in the order asked');
  assert.ok(result.labels.includes('Price'));
  assert.ok(result.verdict.length > 10);
  assert.equal(result.badStatus, 400);
  assert.equal(result.cards, result.ids.length);
  assert.ok(result.overflow <= 0, `the comparison scrolls sideways by ${result.overflow}px`);
  assert.ok(result.page <= 0, `the page scrolls sideways by ${result.page}px`);
  await page.close();
});
