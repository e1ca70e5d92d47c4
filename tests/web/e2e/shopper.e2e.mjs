// Issue 19 in real headless Chromium against a real server (env of ./shopgpt test): the
// shortlist (save from a card, panel, compare, live on a second tab), product detail, feedback,
// export, composer drafts, guest -> account, axe-core on the sign-in, chat, shortlist and
// comparison views (light and dark), and the whole flow by keyboard alone. Each feature is
// looked at 1280 px and 390 px wide; screenshots go to docs/screenshots/ (for the README).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startServer, launchBrowser, restClient, missingPrerequisite, repoRoot } from './harness.mjs';

const skip = missingPrerequisite() ?? false;
const ANSWER_TIMEOUT = Number(process.env.SHOPGPT_E2E_ANSWER_TIMEOUT_MS ?? 60_000);
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const shots = path.join(repoRoot, 'docs', 'screenshots');
const WIDE = { width: 1280, height: 800 };
const NARROW = { width: 390, height: 844 };

let server;
let browser;
let page;
let rest;
let cid;

before(async () => {
  if (skip) return;
  server = await startServer({ log: 'e2e-shopper.log' });
  browser = await launchBrowser();
  rest = restClient(server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function shot(p, name) {
  mkdirSync(shots, { recursive: true });
  await p.waitForTimeout(150); // let a drawer's layout settle
  await p.screenshot({ path: path.join(shots, `${name}.png`) });
}

/** axe-core in the page (evaluated over the DevTools protocol, so the app's CSP stays on); serious and critical violations only. */
async function axe(p, label) {
  if (!(await p.evaluate(() => Boolean(globalThis.axe)))) await p.evaluate(axeSource);
  const violations = await p.evaluate(async () => {
    const r = await globalThis.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  assert.deepEqual(violations, [], `${label}: axe found serious/critical violations`);
}

/** Both colour schemes of the system (prefers-color-scheme), each checked by axe. */
async function axeBothSchemes(p, label) {
  for (const colorScheme of ['light', 'dark']) {
    await p.emulateMedia({ colorScheme });
    await axe(p, `${label} (${colorScheme})`);
  }
  await p.emulateMedia({ colorScheme: 'light' });
}

/** Presses Tab (or Shift+Tab) until the focused element matches `selector`: keyboard only. */
async function tabTo(p, selector, { back = false, max = 80 } = {}) {
  for (let i = 0; i < max; i++) {
    if (await p.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await p.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`keyboard focus never reached ${selector}`);
}

const focused = (p, selector) => p.evaluate((s) => document.activeElement?.matches(s) ?? false, selector);
const idle = (p) => p.waitForFunction(() => !document.querySelector('.msg-assistant[aria-busy="true"]') && document.querySelector('.msg-assistant .card'), null, { timeout: ANSWER_TIMEOUT });

test('the whole flow by keyboard alone: sign in, ask, save two products, compare them, open one, rate the answer', { skip, timeout: 240_000 }, async () => {
  page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.setViewportSize(WIDE);
  await page.goto(server.url + '/');
  await page.waitForSelector('#guest-btn');
  await axeBothSchemes(page, 'sign-in');
  await shot(page, 'sign-in');

  await tabTo(page, '#guest-btn');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#app:not([hidden])');
  rest.setToken(await page.evaluate(() => JSON.parse(localStorage.getItem('shopgpt.session')).token));
  await page.waitForFunction(() => globalThis.shopSocket?.state === 'open', null, { timeout: 30_000 });
  await tabTo(page, '#composer-input');
  await page.keyboard.type('a case for my iPhone under $30');
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/c\/[0-9a-f-]{36}$/);
  cid = /#\/c\/([0-9a-f-]{36})$/.exec(page.url())[1];
  await idle(page);
  await axeBothSchemes(page, 'chat');

  // Save the first two cards.
  await tabTo(page, '.msg-assistant .save-btn[aria-pressed="false"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.msg-assistant .save-btn[aria-pressed="true"]');
  await tabTo(page, '.msg-assistant .save-btn[aria-pressed="false"]');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('.msg-assistant .save-btn[aria-pressed="true"]').length === 2);
  assert.equal(await page.textContent('#shortlist-count'), '2');
  const saved = await rest.get('/api/shortlist');
  assert.equal(saved.items.length, 2, 'both saves are stored');
  await shot(page, 'chat');

  // The panel, two boxes ticked with Space, compare.
  await tabTo(page, '#shortlist-btn', { back: true });
  await page.keyboard.press('Enter');
  await page.waitForSelector('#shortlist-panel[open]');
  await axeBothSchemes(page, 'shortlist');
  await tabTo(page, '#shortlist-list input[type=checkbox]:not(:checked)');
  await page.keyboard.press('Space');
  await tabTo(page, '#shortlist-list input[type=checkbox]:not(:checked)');
  await page.keyboard.press('Space');
  await shot(page, 'shortlist');
  await tabTo(page, '#compare-btn:not([disabled])');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#compare-dialog[open] .compare');
  assert.equal(await page.locator('#compare-dialog .compare-table thead th').count(), 2, 'one column per compared product');
  assert.ok((await page.locator('#compare-dialog .compare-table tbody tr').count()) >= 2, 'rows of attributes');
  await axeBothSchemes(page, 'comparison');
  await shot(page, 'compare');
  await page.keyboard.press('Escape');
  assert.ok(await focused(page, '#compare-btn'), 'closing the comparison returns focus to its button');
  await page.keyboard.press('Escape');
  assert.ok(await focused(page, '#shortlist-btn'), 'closing the panel returns focus to its button');

  // Product detail from a card's name; the products just compared are "often compared with" it.
  await tabTo(page, '.msg-assistant .card-name .link-btn');
  const firstId = await page.evaluate(() => document.activeElement.closest('.card').dataset.productId);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#product-dialog[open] .detail-facts');
  const product = await rest.get(`/api/products/${encodeURIComponent(firstId)}`);
  assert.equal(await page.textContent('#product-title'), product.name);
  const facts = await page.locator('.detail-facts dt').allTextContents();
  if (product.price !== null) assert.ok(facts.includes('Price'));
  if (product.brand) assert.ok(facts.includes('Brand'));
  const link = page.locator('#product-dialog a[target=_blank]');
  if (product.url) assert.equal(await link.getAttribute('href'), new URL(product.url).href, 'the retailer link is the catalog URL');
  else assert.equal(await link.count(), 0, 'no retailer link where the catalog has none');
  if (saved.items.some((i) => i.productId === firstId)) {
    const related = await rest.get(`/api/products/${encodeURIComponent(firstId)}/compared-with`);
    assert.ok(related.items.length >= 1, `the compare was recorded: ${JSON.stringify(related)} ${JSON.stringify(saved.items.map((i) => i.productId))}`);
    await page.waitForSelector('.detail-related li', { timeout: 5000 }).catch(async (e) => {
      throw new Error(`${e.message}\n${await page.evaluate(() => document.querySelector('#product-body').innerHTML.slice(0, 3000))}`);
    });
  }
  await axe(page, 'product detail');
  await shot(page, 'product-detail');
  await page.keyboard.press('Escape');

  // Thumbs down with a reason.
  await tabTo(page, '.msg-assistant .fb-down');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.classList.contains('fb-reason-input'));
  await page.keyboard.type('too expensive');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.msg-assistant .fb-down[aria-pressed="true"]');
  const votes = await rest.get(`/api/conversations/${cid}/feedback`);
  assert.deepEqual(votes.items.map((v) => [v.rating, v.reason]), [['down', 'too expensive']]);

  // The same views at phone width.
  await page.setViewportSize(NARROW);
  await shot(page, 'chat-390');
  await page.click('#shortlist-btn');
  await page.waitForSelector('#shortlist-panel[open]');
  await shot(page, 'shortlist-390');
  await page.click('#compare-btn');
  await page.waitForSelector('#compare-dialog[open] .compare');
  await shot(page, 'compare-390');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  await page.locator('.msg-assistant .card-name .link-btn').first().click();
  await page.waitForSelector('#product-dialog[open] .detail-facts');
  await shot(page, 'product-detail-390');
  await page.keyboard.press('Escape');
  await page.emulateMedia({ colorScheme: 'dark' });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await shot(page, 'chat-dark-390');
  await page.emulateMedia({ colorScheme: 'light' });
  assert.equal(bg, 'rgb(15, 17, 23)', 'dark mode follows the system setting');
  await page.setViewportSize(WIDE);
  assert.deepEqual(errors, []);
});

test('a second tab sees shortlist changes live; drafts survive a reload; export downloads Markdown and JSON', { skip, timeout: 120_000 }, async () => {
  assert.ok(page && cid, 'needs the conversation of the first test');
  const second = await browser.context.newPage();
  await second.goto(`${server.url}/#/c/${cid}`);
  await second.waitForFunction(() => globalThis.shopSocket?.state === 'open', null, { timeout: 30_000 });
  await second.waitForFunction(() => document.querySelector('#shortlist-count')?.textContent === '2');

  // Remove one on the first tab: the second tab's count and card buttons follow without a reload.
  await page.click('#shortlist-btn');
  await page.locator('#shortlist-list .shortlist-item button', { hasText: 'Remove' }).first().click();
  await page.waitForFunction(() => document.querySelector('#shortlist-count').textContent === '1');
  await second.waitForFunction(() => document.querySelector('#shortlist-count').textContent === '1', null, { timeout: 10_000 });
  await second.waitForFunction(() => document.querySelectorAll('.save-btn[aria-pressed="true"]').length === 1);
  await page.keyboard.press('Escape');
  await second.close();

  // A draft per conversation, kept across a reload.
  await page.fill('#composer-input', 'unsent thought about chargers');
  await page.reload();
  await page.waitForSelector('.msg-assistant');
  assert.equal(await page.inputValue('#composer-input'), 'unsent thought about chargers');
  await page.goto(`${server.url}/#/`);
  assert.equal(await page.inputValue('#composer-input'), '', 'a new chat has its own draft');
  await page.goto(`${server.url}/#/c/${cid}`);
  await page.waitForSelector('.msg-assistant');
  assert.equal(await page.inputValue('#composer-input'), 'unsent thought about chargers');
  await page.fill('#composer-input', '');

  for (const [button, ext, needle] of [['#export-md-btn', '.md', '## You'], ['#export-json-btn', '.json', '"messages"']]) {
    await page.click('#more-menu summary');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    assert.ok(download.suggestedFilename().endsWith(ext));
    const text = readFileSync(await download.path(), 'utf8');
    assert.ok(text.includes(needle) && text.includes('a case for my iPhone under $30'), `the ${ext} export holds the conversation`);
  }
  await page.click('#more-menu summary');
  await shot(page, 'export-menu');
  await page.keyboard.press('Escape');
});

test('a guest who creates an account keeps their chats and saved products', { skip, timeout: 120_000 }, async () => {
  assert.ok(page && cid, 'needs the guest of the first test');
  const guestToken = rest.token;
  await page.click('#upgrade-btn');
  await page.waitForSelector('#account-dialog[open]');
  await page.fill('#account-name', 'Robin');
  await page.fill('#account-email', `robin-${Date.now()}@example.com`);
  await page.fill('#account-password', 'a long password');
  await axe(page, 'create account');
  await shot(page, 'create-account');
  await Promise.all([page.waitForEvent('load'), page.click('#account-form button[type=submit]')]);
  await page.waitForSelector('#app:not([hidden])');
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('shopgpt.session')));
  assert.equal(session.guest, false);
  assert.notEqual(session.token, guestToken);
  assert.ok(await page.isHidden('#upgrade-btn'));
  await page.waitForSelector(`#conv-list a[href="#/c/${cid}"]`);
  await page.waitForFunction(() => document.querySelector('#shortlist-count').textContent === '1');
  const r = await fetch(`${server.url}/api/shortlist`, { headers: { authorization: `Bearer ${guestToken}` } });
  assert.equal(r.status, 401, 'the guest token was revoked');
});
