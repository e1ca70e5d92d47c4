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
