// The browser client in real headless Chromium against the real server's REST API and a
// stand-in realtime endpoint (stub-realtime.mjs): streaming, batching, product cards, stop,
// the offline queue across an outage and a reload, two tabs. It checks the client before the
// server's /ws and assistant exist; browser.e2e.mjs is the test against the real thing.
//
// Run: cd tests/web && node --test ./e2e/client-stub.e2e.mjs   (needs SHOPGPT_TEST_PG / _REDIS)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, screenshot, missingPrerequisite } from './harness.mjs';
import { startStubRealtime } from './stub-realtime.mjs';

const skip = missingPrerequisite() ?? false;
let server;
let stub;
let browser;
let page;
const errors = [];

before(async () => {
  if (skip) return;
  server = await startServer({ log: 'e2e-stub-server.log' });
  stub = await startStubRealtime({ upstream: server.url });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stub?.close();
  await server?.stop();
});

const connected = (p) => p.waitForFunction(() => globalThis.shopSocket?.state === 'open', null, { timeout: 20_000, polling: 50 });
const idle = (p) => p.waitForFunction(() => !document.querySelector('.msg-assistant[aria-busy="true"]'), null, { timeout: 20_000 });

async function send(p, text) {
  await p.fill('#composer-input', text);
  await p.press('#composer-input', 'Enter');
}

test('streams an answer: text grows, table and product cards render, nothing is made up', { skip, timeout: 60_000 }, async () => {
  page = await browser.context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && /Content Security Policy|Refused/.test(m.text()) && errors.push(m.text()));
  await page.goto(stub.url + '/');
  await page.click('#guest-btn');
  await connected(page);
  await page.evaluate(() => {
    globalThis.__heights = [];
    globalThis.shopSocket.on('delta', () => {
      const el = document.querySelector('.msg-assistant[aria-busy="true"] .msg-body');
      if (el) globalThis.__heights.push(el.getBoundingClientRect().height);
    });
  });
  await send(page, 'a case for my iPhone under $30');
  await page.waitForSelector('.msg-assistant[aria-busy="true"]');
  await screenshot(page, 'stub-streaming');
  await idle(page);
  await page.waitForSelector('.msg-assistant .card');
  assert.equal(await page.locator('.msg-assistant').count(), 1);
  assert.equal(await page.locator('.msg-assistant table').count(), 1, 'the comparison is a table');
  assert.equal(await page.locator('.msg-assistant li').count(), 3 + 3, 'three bullets and three cards');
  assert.equal(await page.locator('.msg-assistant strong').first().innerText(), 'iPhone cases under $30');
  assert.equal(await page.locator('.card').count(), 3);
  // The third product has no brand, rating, image or link: none is invented.
  const third = page.locator('.card').nth(2);
  assert.equal(await third.locator('.card-brand').count(), 0);
  assert.equal(await third.locator('.card-rating').count(), 0);
  assert.equal(await third.locator('a').count(), 0);
  assert.equal(await third.locator('.card-price').innerText(), '$24.00');
  const heights = await page.evaluate(() => globalThis.__heights);
  assert.ok(heights.every((h, i) => i === 0 || h >= heights[i - 1] - 0.5), 'the streaming bubble never shrinks (no jumps)');
  assert.equal(await page.locator('.msg-user').count(), 1, 'the user message is shown once');
  await screenshot(page, 'stub-answer');
  await page.setViewportSize({ width: 375, height: 760 });
  await page.waitForTimeout(150);
  await screenshot(page, 'stub-answer-375');
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('stop ends the answer and keeps the partial text', { skip, timeout: 60_000 }, async () => {
  await send(page, 'another one please');
  await page.waitForSelector('#stop-btn:not([hidden])');
  await page.click('#stop-btn');
  await idle(page);
  await page.waitForSelector('.msg-meta-stopped');
  assert.ok(await page.locator('#stop-btn').isHidden());
  assert.equal(await page.locator('.msg-assistant').count(), 2);
});

test('a message sent during an outage is queued, survives a reload and is delivered once', { skip, timeout: 90_000 }, async () => {
  const cid = /#\/c\/([0-9a-f-]{36})$/.exec(page.url())[1];
  stub.setDown(true, 1012);
  await page.waitForFunction(() => globalThis.shopSocket.state !== 'open');
  await send(page, 'typed while the server is down');
  await page.waitForSelector('.msg-pending');
  await page.waitForFunction(() => /queued/i.test(document.querySelector('#conn-text').textContent));
  await screenshot(page, 'stub-offline-queued');
  await page.reload(); // the queue is persisted: nothing is lost
  await page.waitForSelector('.msg-pending');
  assert.equal(await page.evaluate(() => globalThis.shopSocket.queue.length), 1);
  stub.setDown(false);
  // The stub answered 503s, so the backoff may be long: do what the "Reconnect now" button does.
  await page.evaluate(() => globalThis.shopSocket.reconnect());
  await connected(page);
  await page.waitForFunction(() => !document.querySelector('.msg-pending'), null, { timeout: 30_000 });
  await idle(page);
  const res = await page.evaluate(async (id) => {
    const s = JSON.parse(localStorage.getItem('shopgpt.session'));
    const r = await fetch(`/api/conversations/${id}/messages?afterSeq=0&limit=500`, { headers: { authorization: `Bearer ${s.token}` } });
    return r.json();
  }, cid);
  assert.equal(res.items.filter((m) => m.text === 'typed while the server is down').length, 1, 'stored exactly once');
  assert.equal(await page.locator('.msg-user .msg-body', { hasText: 'typed while the server is down' }).count(), 1);
});

test('two tabs of one user see each other\'s messages live', { skip, timeout: 60_000 }, async () => {
  const second = await browser.context.newPage();
  await second.goto(page.url());
  await connected(second);
  await send(second, 'from the second tab');
  await page.locator('.msg-user .msg-body', { hasText: 'from the second tab' }).waitFor();
  await idle(page);
  await page.waitForSelector('.msg-assistant:last-child .card');
  await screenshot(second, 'stub-second-tab');
  await second.close();
  assert.deepEqual(errors, []);
});

test('rename, pin, share with a read-only link, search, archive and delete', { skip, timeout: 60_000 }, async () => {
  const cid = /#\/c\/([0-9a-f-]{36})$/.exec(page.url())[1];
  const item = () => page.locator(`#conv-list a[href="#/c/${cid}"]`);

  await page.click('#more-menu summary');
  await page.click('#rename-btn');
  await page.fill('#rename-input', 'Phone cases');
  await page.press('#rename-input', 'Enter');
  await page.waitForFunction(() => document.querySelector('#chat-title').textContent === 'Phone cases');
  assert.match(await item().innerText(), /Phone cases/);

  await page.click('#more-menu summary');
  await page.click('#pin-btn');
  await page.waitForSelector('#conv-list .group-label');
  assert.match(await page.locator('#conv-list .group-label').first().innerText(), /pinned/i);

  await page.click('#share-btn');
  await page.check('#share-toggle');
  await page.waitForSelector('#share-link-row:not([hidden])');
  const link = await page.inputValue('#share-link');
  assert.match(link, new RegExp(`#/shared/${cid}$`));
  assert.ok(!/token/i.test(link));
  await screenshot(page, 'stub-share');
  const reader = await browser.context.newPage();
  await reader.goto(link);
  await reader.waitForSelector('#readonly-banner:not([hidden])');
  await reader.waitForSelector('.msg-user');
  assert.ok(await reader.locator('#composer').isHidden(), 'a shared view cannot be written to');
  await screenshot(reader, 'stub-shared-view');
  await reader.close();

  await page.fill('#search-input', 'iPhone');
  await page.waitForFunction(() => !/Searching/.test(document.querySelector('#search-status').textContent) && document.querySelector('#search-status').textContent !== '');
  const status = await page.locator('#search-status').innerText();
  assert.match(status, /result|not available|No messages/);
  await screenshot(page, 'stub-search');
  await page.press('#search-input', 'Escape');

  await page.click('#more-menu summary');
  await page.click('#archive-btn');
  await item().waitFor({ state: 'detached' });
  await page.click('#tab-archived');
  await item().waitFor();
  await page.click('#tab-chats');

  page.once('dialog', (d) => d.accept());
  await page.click('#more-menu summary');
  await page.click('#delete-btn');
  await page.waitForURL(/#\/$/);
  const r = await page.evaluate(async (id) => {
    const s = JSON.parse(localStorage.getItem('shopgpt.session'));
    return (await fetch(`/api/conversations/${id}`, { headers: { authorization: `Bearer ${s.token}` } })).status;
  }, cid);
  assert.equal(r, 404, 'deleted on the server');
  assert.deepEqual(errors, []);
});

test('sign up, sign out and sign in again with the keyboard', { skip, timeout: 60_000 }, async () => {
  const p = await browser.context.newPage();
  await p.goto(stub.url + '/');
  await p.evaluate(() => localStorage.removeItem('shopgpt.session'));
  await p.reload();
  await p.waitForSelector('#guest-btn');
  const email = `shopper-${Date.now()}@example.com`;
  await p.click('#mode-register');
  await p.fill('#auth-name', 'Sam');
  await p.fill('#auth-email', email);
  await p.fill('#auth-password', 'short');
  await p.press('#auth-password', 'Enter');
  assert.match(await p.locator('#auth-error').innerText(), /8 characters/);
  await p.fill('#auth-password', 'correct horse battery');
  await p.press('#auth-password', 'Enter');
  await p.waitForSelector('#app:not([hidden])');
  await p.click('#signout-btn');
  await p.waitForSelector('#auth:not([hidden])');
  assert.equal(await p.evaluate(() => localStorage.getItem('shopgpt.session')), null);
  await p.fill('#auth-email', email);
  await p.fill('#auth-password', 'wrong password');
  await p.press('#auth-password', 'Enter');
  await p.waitForFunction(() => /wrong/.test(document.querySelector('#auth-error').textContent));
  await p.fill('#auth-password', 'correct horse battery');
  await p.keyboard.press('Enter');
  await p.waitForSelector('#app:not([hidden])');
  await p.close();
});
