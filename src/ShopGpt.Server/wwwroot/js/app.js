// Entry point: session, the one socket of this tab, the views and the hash router.
// Routes: #/ (new chat), #/c/<id> (my conversation), #/shared/<id> (read-only shared view).
import { $ } from './dom.js';
import { createApi } from './api.js';
import { loadSession, saveSession, clearSession, outboxKey } from './session.js';
import { ShopSocket } from './shopsocket.js';
import { showAuth } from './views/auth-view.js';
import { mountSidebar } from './views/sidebar.js';
import { mountChat } from './views/chat-view.js';
import { mountConnectionStatus } from './views/connection-status.js';
import { mountShortlist } from './views/shortlist.js';
import { mountProductDetail } from './views/product-detail.js';
import { mountAccountUpgrade } from './views/account-upgrade.js';

let session = loadSession();
const api = createApi({
  getToken: () => session?.token ?? null,
  onUnauthorized: () => signOutLocally(),
});

// A product opened from a card (its detail drawer or the retailer link) is reported for the operator dashboard (docs/analytics.md);
// fire and forget: the link opens whatever the report's fate.
document.addEventListener('click', (e) => {
  const link = e.target instanceof Element ? e.target.closest('[data-opens-product]') : null;
  if (link && link.dataset.opensProduct && session) api.post('/api/analytics/product-opened', { productId: link.dataset.opensProduct }).catch(() => {});
});

if (session) startApp();
else showAuth({ api, onSignedIn: signedIn });

function signedIn(res, guest) {
  session = saveSession(res, guest);
  startApp();
}

function signOutLocally() {
  if (!session) return;
  clearSession();
  session = null;
  // A fresh page is the simplest way to drop every listener, timer and the socket.
  location.reload();
}

function startApp() {
  $('#auth').hidden = true;
  $('#app').hidden = false;
  $('#who').textContent = session.guest ? 'Guest' : '';

  const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  const socket = new ShopSocket({
    // Only the one-time ticket ever goes into a URL; the token stays in headers.
    url: (ticket) => `${wsBase}/ws?ticket=${encodeURIComponent(ticket)}`,
    getTicket: () => api.post('/api/realtime/ticket'),
    storage: localStorage,
    storageKey: outboxKey(session.userId),
  });
  // For the debug console and the browser tests; it holds no secret.
  globalThis.shopSocket = socket;

  const status = mountConnectionStatus(socket);
  const layout = mountDrawer();
  const sidebar = mountSidebar({ api, onNavigate: layout.close });
  let details = null;
  const shortlist = mountShortlist({ api, socket, userId: session.userId, onDetails: (id) => details.open(id) });
  details = mountProductDetail({ api, shortlist });
  const chat = mountChat({ api, socket, sidebar, shortlist, details, userId: session.userId });
  if (session.guest) {
    mountAccountUpgrade({
      api,
      // The guest became the account (same user id, new token): keep going with the new session.
      onUpgraded: (res) => {
        session = saveSession(res, false);
        location.reload();
      },
    });
  }

  // 4001 / ticket 401: is the session itself gone? Then onUnauthorized signs us out. If the
  // session is fine, the refusal was about the connection (e.g. a ticket race), and one
  // reconnect a minute is allowed: that is a retry, not the storm the close code forbids.
  let lastAuthRetry = 0;
  socket.on('state', async ({ state }) => {
    if (state !== 'unauthorized') return;
    try {
      await api.get('/api/conversations?limit=1');
    } catch {
      return; // a 401 already signed us out; anything else: leave it to the user
    }
    if (Date.now() - lastAuthRetry > 60_000) {
      lastAuthRetry = Date.now();
      socket.reconnect();
    }
  });

  addEventListener('online', () => socket.setOnline(true));
  addEventListener('offline', () => socket.setOnline(false));
  socket.setOnline(navigator.onLine !== false);
  // Back to a tab that waits out a long backoff: the person is looking now, try at once.
  document.addEventListener('visibilitychange', () => {
    const s = socket.snapshot();
    if (document.visibilityState === 'visible' && s.state === 'reconnecting' && s.nextRetryAt - Date.now() > 2000) socket.reconnect();
  });
  // Another tab changed the shared outbox: show the right count.
  addEventListener('storage', (e) => {
    if (e.key === outboxKey(session?.userId)) socket.reloadQueue();
    if (e.key === 'shopgpt.session' && !e.newValue) signOutLocally();
  });

  $('#signout-btn').addEventListener('click', async () => {
    const queued = socket.queue.length;
    if (queued > 0 && !confirm(`${queued} message(s) have not been sent yet and will be lost. Sign out anyway?`)) return;
    socket.stop();
    try {
      await api.post('/api/auth/logout');
    } catch {
      // Signing out locally is what matters to the user; the token expires anyway.
    }
    localStorage.removeItem(outboxKey(session.userId));
    signOutLocally();
  });

  function route() {
    const hash = location.hash || '#/';
    const own = /^#\/c\/([0-9a-fA-F-]{36})$/.exec(hash);
    const shared = /^#\/shared\/([0-9a-fA-F-]{36})$/.exec(hash);
    if (own) chat.openOwn(own[1]);
    else if (shared) chat.openShared(shared[1]);
    else chat.openNew();
    layout.close();
  }
  addEventListener('hashchange', route);
  route();
  socket.start();
  status.render();
  if (!matchMedia('(max-width: 760px)').matches) chat.focusComposer();
}

/** On narrow screens the conversation list is a drawer toggled from the top bar. */
function mountDrawer() {
  const app = $('#app');
  const btn = $('#menu-btn');
  const scrim = $('#scrim');
  const sidebar = $('#sidebar');
  const set = (open) => {
    app.classList.toggle('nav-open', open);
    btn.setAttribute('aria-expanded', String(open));
    scrim.hidden = !open;
    if (open) sidebar.querySelector('a, button, input')?.focus();
  };
  btn.addEventListener('click', () => set(!app.classList.contains('nav-open')));
  scrim.addEventListener('click', () => set(false));
  addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && app.classList.contains('nav-open')) {
      set(false);
      btn.focus();
    }
  });
  return {
    close: () => {
      if (app.classList.contains('nav-open')) set(false);
    },
  };
}
