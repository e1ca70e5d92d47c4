// End-to-end in real headless Chromium (Debian's /usr/bin/chromium through playwright-core)
// against a real ShopGpt.Server started here, on the PostgreSQL and Redis of `./shopgpt test`
// (SHOPGPT_TEST_PG, SHOPGPT_TEST_REDIS, SHOPGPT_SERVER_DLL). Issue 7's scenarios:
//   1. guest sign-in, the conversation list pages through the keyset API (works with REST only);
//   2. "a case for my iPhone under $30" -> a streamed answer with product cards;
//   3. the server restarts while the page is open; a message typed while it is down is delivered
//      exactly once after it is back, and its answer arrives;
//   4. two tabs of one user see each other's messages live.
// Screenshots of the main views go to artifacts/screenshots/.
//
// Run: cd tests/web && npm ci && node --test ./e2e/browser.e2e.mjs   (inside ./shopgpt test's env)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, screenshot, restClient, missingPrerequisite } from './harness.mjs';

const skip = missingPrerequisite() ?? false;
const ANSWER_TIMEOUT = Number(process.env.SHOPGPT_E2E_ANSWER_TIMEOUT_MS ?? 60_000);

let server;
let browser;
let page; // tab 1, signed in as a guest
let rest; // REST client with the same guest's token

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launchBrowser();
  rest = restClient(server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Collects page errors; CSP violations show up here too (they must never happen). */
function watchErrors(p) {
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  p.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) errors.push(m.text());
  });
  return errors;
}

async function realtimeAvailable() {
  const r = await fetch(`${server.url}/api/realtime/ticket`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rest.token}` },
  });
  return r.status !== 404;
}

const userBubbles = (p, text) => p.locator('.msg-user .msg-body', { hasText: text });

/** Waits until the socket of a tab reports `open`. */
const connected = (p, timeout = 30_000) =>
  p.waitForFunction(() => globalThis.shopSocket?.state === 'open', null, { timeout, polling: 100 });

async function send(p, text) {
  await p.fill('#composer-input', text);
  await p.press('#composer-input', 'Enter');
}

let errors;

test('guest sign-in opens the app and the conversation list pages through the keyset API', { skip, timeout: 120_000 }, async () => {
  page = await browser.context.newPage();
  errors = watchErrors(page);
  await page.goto(server.url + '/');
  await page.waitForSelector('#guest-btn');
  await screenshot(page, 'sign-in');
  await page.click('#guest-btn');
  await page.waitForSelector('#app:not([hidden])');
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('shopgpt.session')));
  assert.ok(session?.token, 'the session token is stored under one key');
  assert.ok(!page.url().includes(session.token), 'the token is not in the URL');
  rest.setToken(session.token);

  // More conversations than one page (20) so the list must scroll to load the rest.
  const created = [];
  for (let i = 0; i < 27; i++) created.push(await rest.post('/api/conversations', { title: `Seeded chat ${i + 1}` }));
  await page.reload();
  await page.waitForSelector('#conv-list .conv-link');
  const scroller = page.locator('#sidebar-scroll');
  for (let i = 0; i < 10 && (await page.locator('#conv-list .conv-link').count()) < 27; i++) {
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.waitForTimeout(200);
  }
  const hrefs = await page.locator('#conv-list .conv-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.equal(hrefs.length, 27, 'every conversation is listed after scrolling');
  assert.equal(new Set(hrefs).size, 27, 'no conversation is listed twice');
  await screenshot(page, 'conversation-list');
  await page.setViewportSize({ width: 375, height: 760 });
  await screenshot(page, 'home-375');
  await page.click('#menu-btn');
  await page.waitForSelector('.nav-open #sidebar');
  await page.waitForTimeout(300);
  await screenshot(page, 'drawer-375');
  await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 1280, height: 800 });
  assert.deepEqual(errors, []);
});

test('a question gets a streamed answer with product cards', { skip, timeout: 120_000 }, async () => {
  assert.ok(page, 'needs the signed-in tab of the first test');
  assert.ok(await realtimeAvailable(), 'POST /api/realtime/ticket is not implemented on this server yet');
  await page.goto(server.url + '/#/');
  await connected(page);
  // Count deltas as they arrive: proof that the answer streamed rather than arrived whole.
  await page.evaluate(() => {
    globalThis.__deltas = 0;
    globalThis.shopSocket.on('delta', () => globalThis.__deltas++);
  });
  await send(page, 'a case for my iPhone under $30');
  await page.waitForURL(/#\/c\/[0-9a-f-]{36}$/);
  await userBubbles(page, 'a case for my iPhone under $30').first().waitFor();
  await page.waitForSelector('.msg-assistant', { timeout: ANSWER_TIMEOUT });
  await page.waitForSelector('.msg-assistant .card', { timeout: ANSWER_TIMEOUT });
  await page.waitForFunction(() => !document.querySelector('.msg-assistant[aria-busy="true"]'), null, { timeout: ANSWER_TIMEOUT });
  assert.ok((await page.evaluate(() => globalThis.__deltas)) > 0, 'the answer arrived as delta frames');
  assert.equal(await userBubbles(page, 'a case for my iPhone under $30').count(), 1);
  const card = page.locator('.msg-assistant .card').first();
  assert.ok((await card.locator('.card-name').count()) + (await card.locator('.card-price').count()) > 0, 'cards show a name or a price');
  assert.equal(await page.locator('#conn-btn').getAttribute('data-state'), 'open');
  await screenshot(page, 'chat-answer');
  await page.setViewportSize({ width: 375, height: 760 });
  await page.waitForTimeout(200);
  await screenshot(page, 'chat-answer-375');
  await page.setViewportSize({ width: 1280, height: 800 });
  assert.deepEqual(errors, []);
});

test('a message typed while the server restarts is delivered exactly once and answered', { skip, timeout: 240_000 }, async () => {
  assert.ok(page && (await realtimeAvailable()), 'needs the chat of the previous test and a realtime server');
  const cid = /#\/c\/([0-9a-f-]{36})$/.exec(page.url())?.[1];
  assert.ok(cid, 'a conversation is open');
  const answersBefore = await page.locator('.msg-assistant').count();

  await server.down();
  await page.waitForFunction(() => globalThis.shopSocket.state !== 'open', null, { timeout: 30_000 });
  const text = 'and a screen protector under $15?';
  await send(page, text);
  await page.waitForSelector('.msg-pending');
  assert.match(await page.locator('.msg-pending .msg-meta').innerText(), /Queued/);
  await page.click('#conn-btn'); // the debug panel shows the queue and the close code
  await screenshot(page, 'offline-queued');
  assert.equal(await page.evaluate(() => globalThis.shopSocket.queue.length), 1);

  await server.up();
  await connected(page, 90_000);
  await page.waitForFunction(() => !document.querySelector('.msg-pending'), null, { timeout: ANSWER_TIMEOUT });
  await page.waitForFunction((n) => document.querySelectorAll('.msg-assistant').length > n, answersBefore, { timeout: ANSWER_TIMEOUT });
  await page.waitForFunction(() => !document.querySelector('.msg-assistant[aria-busy="true"]'), null, { timeout: ANSWER_TIMEOUT });
  assert.equal(await page.evaluate(() => globalThis.shopSocket.queue.length), 0, 'the queue is empty once acknowledged');
  assert.ok((await page.evaluate(() => globalThis.shopSocket.metrics.reconnects)) >= 1);
  await screenshot(page, 'after-restart');
  await page.click('#conn-btn');

  // Exactly once: in the page and in the database.
  assert.equal(await userBubbles(page, text).count(), 1);
  const stored = await rest.get(`/api/conversations/${cid}/messages?afterSeq=0&limit=500`);
  assert.equal(stored.items.filter((m) => m.role === 'user' && m.text === text).length, 1);
  const last = stored.items.at(-1);
  assert.equal(last.role, 'assistant', 'the answer to the queued message was stored');
  assert.deepEqual(errors, []);
});

test('two tabs of one user see each other\'s messages live', { skip, timeout: 180_000 }, async () => {
  assert.ok(page && (await realtimeAvailable()), 'needs the chat of the previous tests and a realtime server');
  const url = page.url();
  const second = await browser.context.newPage(); // same profile: same session in localStorage
  const errors2 = watchErrors(second);
  await second.goto(url);
  await connected(second);
  await second.waitForSelector('.msg-user');

  const answers = () => page.locator('.msg-assistant').count();
  const idle = (p, n) =>
    p.waitForFunction((k) => !document.querySelector('.msg-assistant[aria-busy="true"]') && document.querySelectorAll('.msg-assistant').length > k, n, { timeout: ANSWER_TIMEOUT });

  const fromSecond = 'is there one with MagSafe?';
  let before = await answers();
  await send(second, fromSecond);
  await userBubbles(page, fromSecond).first().waitFor({ timeout: 30_000 });
  await idle(page, before); // the answer streams into the first tab too
  await idle(second, before);

  const fromFirst = 'thanks, any in blue?';
  before = await answers();
  await send(page, fromFirst);
  await userBubbles(second, fromFirst).first().waitFor({ timeout: 30_000 });
  await idle(second, before);
  assert.equal(await userBubbles(page, fromSecond).count(), 1);
  assert.equal(await userBubbles(second, fromFirst).count(), 1);
  await screenshot(page, 'two-tabs-first');
  await screenshot(second, 'two-tabs-second');
  await second.close();
  assert.deepEqual([...errors, ...errors2], []);
});
