// Shared plumbing for the browser tests: a real ShopGpt.Server on a free port and a headless
// Debian Chromium driven by playwright-core (never a downloaded browser).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const screenshotDir = path.join(repoRoot, 'artifacts', 'screenshots');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the e2e cannot run here, or null when it can (env vars set by `./shopgpt test`). */
export function missingPrerequisite() {
  if (!process.env.SHOPGPT_TEST_PG) return 'SHOPGPT_TEST_PG is not set (run through ./shopgpt test)';
  if (!process.env.SHOPGPT_TEST_REDIS) return 'SHOPGPT_TEST_REDIS is not set (run through ./shopgpt test)';
  return null;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `dotnet $SHOPGPT_SERVER_DLL` on a fixed port so a restart comes back at the same
 * address (the page keeps its origin). The working directory is the project folder: it is the
 * content root, so wwwroot is served from the source tree.
 */
export async function startServer({ port, log = 'e2e-server.log', env = {} } = {}) {
  port ??= await freePort();
  const dll = process.env.SHOPGPT_SERVER_DLL ?? path.join(repoRoot, 'src/ShopGpt.Server/bin/Release/net10.0/ShopGpt.Server.dll');
  const url = `http://127.0.0.1:${port}`;
  mkdirSync(path.join(repoRoot, 'artifacts'), { recursive: true });
  const out = createWriteStream(path.join(repoRoot, 'artifacts', log), { flags: 'a' });
  let child = null;

  async function up() {
    child = spawn('dotnet', [dll, '--urls', url], {
      cwd: path.join(repoRoot, 'src/ShopGpt.Server'),
      env: {
        ...process.env,
        ConnectionStrings__Postgres: process.env.SHOPGPT_TEST_PG,
        ConnectionStrings__Redis: process.env.SHOPGPT_TEST_REDIS,
        // Seeds the real catalog when the test database has none yet (first start).
        Catalog__SeedPath: process.env.SHOPGPT_CATALOG ?? path.join(repoRoot, '..', 'shared', 'data', 'catalog'),
        // Analytics needs a NATS server of the test's own (dashboard.e2e.mjs passes one in env).
        Analytics__Enabled: 'false',
        ...env,
        ASPNETCORE_ENVIRONMENT: process.env.ASPNETCORE_ENVIRONMENT ?? 'Production',
        DOTNET_NOLOGO: '1',
        DOTNET_CLI_TELEMETRY_OPTOUT: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    const started = Date.now();
    while (Date.now() - started < 90_000) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}; see artifacts/${log}`);
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await delay(100);
    }
    throw new Error('server did not become healthy in 90 s');
  }

  async function down() {
    if (!child || child.exitCode !== null) return;
    const c = child;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM'); // graceful: the server closes sockets with 1012
    const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  await up();
  return {
    url,
    port,
    stop: async () => {
      await down();
      out.end();
    },
    down,
    up,
  };
}

/** A fresh profile every run, so no state leaks between runs. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(path.join(tmpdir(), 'shopgpt-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`) });
}

/** REST helper for seeding data straight through the public API. */
export function restClient(base) {
  let token = null;
  const call = async (method, p, body) => {
    const res = await fetch(base + p, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${method} ${p} -> ${res.status} ${JSON.stringify(data)}`);
    return data;
  };
  return {
    get token() {
      return token;
    },
    setToken: (t) => (token = t),
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b),
    patch: (p, b) => call('PATCH', p, b),
  };
}
