// The operator dashboard (issue 17, docs/analytics.md) in real headless Chromium: a server with
// analytics on (its own nats-server with JetStream, its own slot and stream), a guest's messages
// and a product opened through the public API, then /admin.html with the admin token shows them
// as plots (inline SVG) once the capture and the consumers have moved them; a wrong token is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchBrowser, screenshot, restClient, missingPrerequisite, freePort } from './harness.mjs';

const skip = missingPrerequisite() ?? false;
const TOKEN = 'e2e-admin-' + Math.random().toString(36).slice(2);
const NAME = 'e2e' + Date.now().toString(36);

let nats;
let natsDir;
let server;
let browser;

/** psql against the test database (SHOPGPT_TEST_PG is an Npgsql connection string). */
function psql(sql) {
  const cs = Object.fromEntries((process.env.SHOPGPT_TEST_PG ?? '').split(';').filter(Boolean).map((kv) => kv.split('=')));
  return execFileSync('psql', ['-h', cs.Host, '-p', cs.Port, '-U', cs.Username, '-d', cs.Database, '-Atqc', sql]).toString().trim();
}

before(async () => {
  if (skip) return;
  natsDir = mkdtempSync(path.join(tmpdir(), 'shopgpt-e2e-nats-'));
  const port = await freePort();
  nats = spawn('nats-server', ['-js', '-sd', natsDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  // Positions of an earlier run's stream would not fit this run's new stream.
  psql("delete from analytics_positions");
  server = await startServer({
    log: 'e2e-dashboard-server.log',
    env: {
      Analytics__Enabled: 'true',
      Analytics__NatsUrl: `nats://127.0.0.1:${port}`,
      Analytics__Stream: NAME.toUpperCase(),
      Analytics__SubjectPrefix: NAME,
      Analytics__Slot: NAME,
      Analytics__LeaseKey: String(Math.floor(Math.random() * 1e12)),
      Admin__Token: TOKEN,
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  nats?.kill('SIGTERM');
  if (!skip) {
    // The slot would keep WAL on the test server; it is free once the server's capture is gone.
    for (let i = 0; i < 50; i++) {
      if (psql(`select count(*) from pg_replication_slots where slot_name = '${NAME}' and active`) === '0') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    psql(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = '${NAME}'`);
  }
  if (natsDir) rmSync(natsDir, { recursive: true, force: true });
});

test('the dashboard plots messages, active users and the products a guest was shown and opened', { skip, timeout: 180_000 }, async () => {
  // Wait until the capture reads its slot: rows committed before the slot existed are not captured.
  for (let i = 0; psql(`select count(*) from pg_replication_slots where slot_name = '${NAME}' and active`) !== '1'; i++) {
    assert.ok(i < 600, 'the capture never started');
    await new Promise((r) => setTimeout(r, 100));
  }
  const rest = restClient(server.url);
  const guest = await rest.post('/api/auth/guest');
  rest.setToken(guest.token);
  const conv = await rest.post('/api/conversations', { title: 'dashboard' });
  for (const text of ['a case for my iPhone under $30', 'a lamp for my desk', 'something for my unicorn zeppelin']) {
    await rest.post(`/api/conversations/${conv.id}/messages`, { text, clientId: crypto.randomUUID() });
  }
  const found = await rest.get('/api/products/search?q=iphone%20case');
  const product = found.items[0];
  await rest.post('/api/analytics/product-opened', { productId: product.id });

  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/admin.html`);

  await page.fill('#token', 'not-the-token');
  await page.click('#token-form button');
  await page.waitForSelector('.status.error');
  assert.match(await page.textContent('#status'), /not valid/);
  assert.equal(await page.isHidden('#dash'), true);

  // The figures arrive asynchronously (WAL → capture → JetStream → consumer): show again until
  // they are there, with a deadline.
  await page.fill('#token', TOKEN);
  const deadline = Date.now() + 90_000;
  while (true) {
    await page.click('#token-form button');
    await page.waitForSelector('#dash:not([hidden])');
    const shown = await page.evaluate(() => ({
      messages: Number(document.querySelector('#tiles .tile b')?.textContent?.replace(/,/g, '') ?? 0),
      hourlyBars: document.querySelectorAll('#chart-hourly svg rect').length,
      opened: [...document.querySelectorAll('#top-opened svg rect')].map((r) => r.getAttribute('data-key')),
      dau: document.querySelectorAll('#chart-dau svg rect').length,
      recommended: document.querySelectorAll('#top-recommended svg rect').length,
    }));
    if (shown.messages >= 3 && shown.hourlyBars > 0 && shown.dau > 0 && shown.opened.includes(product.name) && shown.recommended > 0) break;
    assert.ok(Date.now() < deadline, `the dashboard never showed the guest's activity: ${JSON.stringify(shown)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(await page.locator('#chart-hourly svg[role="img"][aria-label="messages per hour"]').count() === 1);
  await screenshot(page, 'admin-dashboard');
  assert.deepEqual(errors, []);
});
