// Screenshots of the main views against an already running server, for eyeballing the UI:
//   node e2e/preview.mjs http://127.0.0.1:8080
// Seeds a guest with enough conversations to page, then shoots desktop and 375 px widths.
import { launchBrowser, restClient, screenshot } from './harness.mjs';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const rest = restClient(base);
const auth = await rest.post('/api/auth/guest');
rest.setToken(auth.token);
const titles = ['iPhone 15 cases', 'Noise-cancelling headphones', 'Coffee grinder for a gift', 'Running shoes', 'Desk lamp'];
let last = null;
for (let i = 0; i < 45; i++) {
  const c = await rest.post('/api/conversations', { title: `${titles[i % titles.length]} #${i + 1}` });
  await rest.post(`/api/conversations/${c.id}/messages`, { text: `Looking for ${titles[i % titles.length].toLowerCase()} under $${30 + i}`, clientId: `seed-${i}` });
  last = c;
}
await rest.patch(`/api/conversations/${last.id}`, { pinned: true, shared: true });

const browser = await launchBrowser();
const page = await browser.context.newPage();
const errors = [];
page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
page.on('pageerror', (e) => errors.push(String(e)));

await page.goto(base + '/');
await page.waitForSelector('#guest-btn');
await screenshot(page, 'preview-signin-desktop');
await page.setViewportSize({ width: 375, height: 740 });
await screenshot(page, 'preview-signin-375');
await page.setViewportSize({ width: 1280, height: 800 });

// Sign in as the seeded guest (the app reads its session from localStorage).
await page.evaluate((s) => localStorage.setItem('shopgpt.session', JSON.stringify({ ...s, guest: true })), auth);
await page.reload();
await page.waitForSelector('#conv-list .conv-link');
await page.waitForTimeout(500);
await screenshot(page, 'preview-home-desktop');
await page.locator('#sidebar-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
await page.waitForTimeout(800);
await page.locator('#sidebar-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
await page.waitForTimeout(800);
const count = await page.locator('#conv-list .conv-link').count();
console.log('conversations listed after scrolling:', count);
await page.click(`#conv-list a[href="#/c/${last.id}"]`);
await page.waitForSelector('.msg-user');
await page.click('#share-btn');
await screenshot(page, 'preview-chat-desktop');
await page.click('#conn-btn');
await page.waitForTimeout(300);
await screenshot(page, 'preview-debug-desktop');
await page.setViewportSize({ width: 375, height: 740 });
await page.waitForTimeout(300);
await screenshot(page, 'preview-chat-375');
await page.click('#menu-btn');
await page.waitForTimeout(400);
await screenshot(page, 'preview-drawer-375');
await page.keyboard.press('Escape');
await page.goto(base + `/#/shared/${last.id}`);
await page.waitForTimeout(800);
await screenshot(page, 'preview-shared-375');
console.log('page errors:', errors);
await browser.close();
