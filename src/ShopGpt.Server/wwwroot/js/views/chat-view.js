// The chat view: history over REST, live messages and streamed answers over the socket,
// the composer, and the conversation's actions (rename, pin, archive, share, delete).
import { $, h } from '../dom.js';
import { enc } from '../api.js';
import { renderMarkdown } from '../markdown-dom.js';
import { renderProducts, refreshSaveButtons } from './product-cards.js';
import { mountFeedback } from './feedback.js';
import { mountDraft } from './draft.js';

const PAGE = 50;

export function mountChat({ api, socket, sidebar, shortlist, details, userId }) {
  const box = $('#messages');
  const list = $('#message-list');
  const empty = $('#empty-state');
  const olderBtn = $('#older-btn');
  const titleEl = $('#chat-title');
  const actions = $('#chat-actions');
  const composer = $('#composer');
  const input = $('#composer-input');
  const sendBtn = $('#send-btn');
  const stopBtn = $('#stop-btn');
  const errorEl = $('#composer-error');
  const banner = $('#readonly-banner');
  const shareBtn = $('#share-btn');
  const shareBox = $('#share-box');
  const shareToggle = $('#share-toggle');
  const shareRow = $('#share-link-row');
  const shareLink = $('#share-link');
  const shareStatus = $('#share-status');
  const menu = $('#more-menu');
  const renameForm = $('#rename-form');
  const renameInput = $('#rename-input');

  let mode = 'new'; // 'new' | 'own' | 'shared'
  let cid = null;
  const feedback = mountFeedback({ api });
  const draft = mountDraft({ input: $('#composer-input'), userId });
  let conv = null;
  let olderCursor = null;
  let loadGen = 0;
  const nodes = new Map(); // message id -> element
  const pendingEls = new Map(); // outbox ref -> element (not yet acknowledged)
  const streams = new Map(); // answer id -> {text, el, frame}
  const finished = new Set(); // answer ids whose stored msg has arrived (late deltas are ignored)

  // ------------------------------------------------------------ rendering messages

  function messageEl(role) {
    return h(
      'article',
      { class: `msg msg-${role === 'user' ? 'user' : 'assistant'}` },
      h('h3', { class: 'sr-only' }, role === 'user' ? 'You said' : 'ShopGPT said'),
      h('div', { class: 'msg-body' }),
      h('p', { class: 'msg-meta' }),
    );
  }

  function setBody(el, role, text, streaming = false) {
    const body = el.querySelector('.msg-body');
    if (role === 'user') body.textContent = text; // user text is shown verbatim (CSS keeps newlines)
    else body.replaceChildren(renderMarkdown(text, document, { streaming }));
  }

  function setMeta(el, text, kind = '') {
    const meta = el.querySelector('.msg-meta');
    meta.textContent = text;
    meta.className = `msg-meta${kind ? ` msg-meta-${kind}` : ''}`;
  }

  function setProducts(el, products) {
    el.querySelector('.products')?.remove();
    const cards = renderProducts(products, { shortlist, onDetails: (id) => details.open(id) });
    if (cards) el.querySelector('.msg-body').after(cards);
  }

  function statusText(status) {
    return status === 'stopped' ? 'Stopped' : status === 'failed' ? 'The answer could not be completed.' : '';
  }

  // Follow the newest message only while the reader is at the bottom; someone scrolled up to
  // read must not be yanked down by a streaming answer.
  const nearBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  let stick = true;
  box.addEventListener('scroll', () => (stick = nearBottom()), { passive: true });
  // Images loading, a rotated phone or a resized window change heights without any message
  // event: keep the bottom in view in those cases too.
  new ResizeObserver(() => {
    if (stick) box.scrollTop = box.scrollHeight;
  }).observe(list);
  new ResizeObserver(() => {
    if (stick) box.scrollTop = box.scrollHeight;
  }).observe(box);

  function keepingScroll(fn) {
    const atBottom = stick || nearBottom();
    fn();
    if (atBottom) {
      box.scrollTop = box.scrollHeight;
      stick = true;
    }
  }

  /** Orders by seq; elements without a seq (queued, streaming) stay at the end. */
  function place(el, seq) {
    if (seq === null || seq === undefined) {
      if (!el.isConnected) list.append(el);
      return;
    }
    for (const child of list.children) {
      if (child === el) continue;
      const s = child.dataset.seq ? Number(child.dataset.seq) : Infinity;
      if (s > seq) {
        if (el.nextElementSibling !== child) list.insertBefore(el, child);
        return;
      }
    }
    if (list.lastElementChild !== el) list.append(el);
  }

  function upsertMessage(m) {
    let el = nodes.get(m.id);
    if (!el && m.clientId && pendingEls.has(m.clientId)) {
      el = pendingEls.get(m.clientId);
      pendingEls.delete(m.clientId);
    }
    if (!el) el = messageEl(m.role);
    nodes.set(m.id, el);
    el.dataset.id = m.id;
    el.classList.remove('msg-pending', 'msg-failed');
    if (m.role === 'assistant') {
      finished.add(m.id);
      const s = streams.get(m.id);
      if (s?.frame) cancelAnimationFrame(s.frame);
      streams.delete(m.id);
      el.removeAttribute('aria-busy');
    }
    setBody(el, m.role, m.text ?? '');
    setProducts(el, m.products);
    setMeta(el, statusText(m.status), m.status && m.status !== 'complete' ? m.status : '');
    if (m.role === 'assistant' && mode === 'own') feedback.attach(el, cid, m.id);
    if (typeof m.seq === 'number') el.dataset.seq = String(m.seq);
    place(el, m.seq);
    refreshChrome();
  }

  function toBottom() {
    box.scrollTop = box.scrollHeight;
    stick = true;
  }

  function addPending(entry) {
    if (pendingEls.has(entry.ref)) return;
    const el = messageEl('user');
    el.classList.add('msg-pending');
    el.dataset.ref = entry.ref;
    setBody(el, 'user', entry.text);
    pendingEls.set(entry.ref, el);
    list.append(el);
    labelPending();
    refreshChrome();
  }

  function labelPending() {
    const open = socket.state === 'open';
    for (const el of pendingEls.values()) {
      if (!el.classList.contains('msg-failed')) setMeta(el, open ? 'Sending…' : 'Queued: sends when the connection is back', 'pending');
    }
  }

  function renderStream(id) {
    const s = streams.get(id);
    if (!s) return;
    s.frame = 0;
    keepingScroll(() => setBody(s.el, 'assistant', s.text, true));
  }

  function refreshChrome() {
    empty.hidden = mode === 'shared' || list.childElementCount > 0;
    stopBtn.hidden = mode !== 'own' || streams.size === 0;
  }

  function clearMessages() {
    for (const s of streams.values()) if (s.frame) cancelAnimationFrame(s.frame);
    nodes.clear();
    pendingEls.clear();
    streams.clear();
    finished.clear();
    list.replaceChildren();
    stick = true;
    olderCursor = null;
    olderBtn.hidden = true;
  }

  // ------------------------------------------------------------ socket events

  socket.on('msg', (m) => {
    sidebar.noteMessage(m);
    if (mode !== 'own' || m.conversationId !== cid) return;
    keepingScroll(() => upsertMessage(m));
  });

  socket.on('ack', (a) => {
    const el = pendingEls.get(a.ref);
    if (!el) return;
    pendingEls.delete(a.ref);
    if (nodes.has(a.id)) {
      el.remove(); // the stored msg got here first
    } else {
      nodes.set(a.id, el);
      el.dataset.id = a.id;
      el.dataset.seq = String(a.seq);
      el.classList.remove('msg-pending');
      setMeta(el, '');
      place(el, a.seq);
    }
    refreshChrome();
  });

  socket.on('delta', (d) => {
    if (mode !== 'own' || d.cid !== cid || finished.has(d.id)) return;
    let s = streams.get(d.id);
    if (!s) {
      let el = nodes.get(d.id);
      if (!el) {
        el = messageEl('assistant');
        el.dataset.id = d.id;
        nodes.set(d.id, el);
        keepingScroll(() => list.append(el));
      }
      // Screen readers wait for aria-busy to clear instead of reading every chunk.
      el.setAttribute('aria-busy', 'true');
      s = { text: '', el, frame: 0 };
      streams.set(d.id, s);
      refreshChrome();
    }
    s.text += d.text ?? '';
    // Many deltas per frame are rendered once: one layout per animation frame at most.
    if (!s.frame) s.frame = requestAnimationFrame(() => renderStream(d.id));
  });

  socket.on('done', (d) => {
    if (mode !== 'own' || d.cid !== cid) return;
    const s = streams.get(d.id);
    if (s) {
      if (s.frame) cancelAnimationFrame(s.frame);
      streams.delete(d.id);
      keepingScroll(() => {
        setBody(s.el, 'assistant', s.text);
        setMeta(s.el, statusText(d.status), d.status && d.status !== 'complete' ? d.status : '');
        s.el.removeAttribute('aria-busy');
        if (typeof d.seq === 'number') {
          s.el.dataset.seq = String(d.seq);
          place(s.el, d.seq);
        }
      });
    }
    refreshChrome();
  });

  socket.on('failed', (f) => {
    const el = pendingEls.get(f.ref);
    if (!el) return;
    pendingEls.delete(f.ref);
    el.classList.add('msg-failed');
    setMeta(el, `Not sent: ${f.message ?? f.code}`, 'failed');
  });

  socket.on('err', (e) => {
    if (e.ref) return; // per-message errors are handled by the socket (retry or `failed`)
    if (e.code === 'rate_limited') showError('You are sending messages too fast; wait a moment.');
    else if (e.code !== 'not_found' || mode === 'own') showError(e.message || `Server error: ${e.code}`);
  });

  // The server replays at most 500 missed messages on `sub`; `subscribed` with complete=false
  // (docs/protocol.md) means more were missed: page the rest in over REST.
  socket.on('subscribed', async (f) => {
    if (f.complete !== false || mode !== 'own' || f.cid !== cid) return;
    const gen = loadGen;
    try {
      for (;;) {
        const after = socket.followed.get(cid) ?? 0;
        const page = await api.get(`/api/conversations/${enc(cid)}/messages?afterSeq=${after}&limit=500`);
        if (gen !== loadGen) return;
        keepingScroll(() => {
          for (const m of page.items) {
            upsertMessage(m);
            socket.noteSeq(cid, m.seq);
          }
        });
        if (page.items.length < 500) return;
      }
    } catch (e) {
      showError(`Some messages could not be loaded: ${e.message}`);
    }
  });

  socket.on('error', (e) => showError(e.message));
  socket.on('state', labelPending);

  // ------------------------------------------------------------ opening views

  function setHeader() {
    titleEl.textContent = mode === 'new' ? 'New chat' : conv?.title || 'Untitled';
    document.title = mode === 'new' ? 'ShopGPT' : `${conv?.title || 'Chat'} · ShopGPT`;
    actions.hidden = mode !== 'own' || !conv;
    composer.hidden = mode === 'shared';
    banner.hidden = mode !== 'shared';
    renameForm.hidden = true;
    titleEl.hidden = false;
    if (conv) {
      $('#pin-btn').textContent = conv.pinned ? 'Unpin' : 'Pin';
      $('#archive-btn').textContent = conv.archived ? 'Unarchive' : 'Archive';
      shareBtn.textContent = conv.shared ? 'Shared' : 'Share';
      shareBtn.classList.toggle('is-on', Boolean(conv.shared));
      shareToggle.checked = Boolean(conv.shared);
      shareRow.hidden = !conv.shared;
      shareLink.value = conv.shared ? shareUrl(conv.id) : '';
    }
    if (mode !== 'own') closeShare();
  }

  function leave() {
    loadGen++;
    draft.leave();
    if (cid && mode === 'own') socket.unfollow(cid);
    clearMessages();
    closeShare();
    menu.open = false;
    errorEl.textContent = '';
  }

  function openNew() {
    leave();
    mode = 'new';
    cid = null;
    conv = null;
    sidebar.setActive(null);
    setHeader();
    refreshChrome();
    draft.enter(null);
  }

  async function openOwn(id) {
    if (mode === 'own' && cid === id) return;
    leave();
    const gen = loadGen;
    mode = 'own';
    cid = id;
    conv = sidebar.get(id);
    sidebar.setActive(id);
    draft.enter(id);
    setHeader();
    refreshChrome();
    try {
      const [c, page] = await Promise.all([
        api.get(`/api/conversations/${enc(id)}`),
        api.get(`/api/conversations/${enc(id)}/messages?limit=${PAGE}`),
      ]);
      if (gen !== loadGen) return;
      conv = c;
      setHeader();
      showPage(page, true);
      const maxSeq = page.items.reduce((m, x) => Math.max(m, x.seq ?? 0), 0);
      socket.follow(id, Math.max(maxSeq, 0));
      feedback.load(id);
      for (const entry of socket.pending(id)) addPending(entry);
      toBottom();
    } catch (e) {
      if (gen !== loadGen) return;
      showLoadError(e);
    }
  }

  async function openShared(id) {
    leave();
    const gen = loadGen;
    mode = 'shared';
    cid = id;
    conv = null;
    sidebar.setActive(null);
    setHeader();
    refreshChrome();
    try {
      const [c, page] = await Promise.all([
        api.get(`/api/shared/${enc(id)}`),
        api.get(`/api/shared/${enc(id)}/messages?limit=${PAGE}`),
      ]);
      if (gen !== loadGen) return;
      conv = c;
      setHeader();
      showPage(page, true);
      toBottom();
    } catch (e) {
      if (gen !== loadGen) return;
      showLoadError(e);
    }
  }

  function showLoadError(e) {
    const text = e.status === 404 ? 'This conversation does not exist, was deleted, or is no longer shared.' : `Could not load the conversation: ${e.message}`;
    list.replaceChildren(h('p', { class: 'load-error', role: 'alert' }, text, ' ', h('a', { href: '#/' }, 'Start a new chat')));
    actions.hidden = true;
    composer.hidden = mode === 'shared' || e.status === 404;
    refreshChrome();
  }

  /** A REST page is newest first; it is shown oldest first. */
  function showPage(page, atEnd) {
    const items = [...(page.items ?? [])].reverse();
    if (atEnd) for (const m of items) upsertMessage(m);
    else {
      // Older messages go above: keep what the reader sees where it is.
      const before = box.scrollHeight;
      for (const m of items) upsertMessage(m);
      box.scrollTop += box.scrollHeight - before;
    }
    olderCursor = page.nextCursor ?? null;
    olderBtn.hidden = !olderCursor;
  }

  olderBtn.addEventListener('click', async () => {
    if (!olderCursor || !cid) return;
    const gen = loadGen;
    olderBtn.disabled = true;
    try {
      const base = mode === 'shared' ? `/api/shared/${enc(cid)}` : `/api/conversations/${enc(cid)}`;
      const page = await api.get(`${base}/messages?limit=${PAGE}&before=${enc(olderCursor)}`);
      if (gen === loadGen) showPage(page, false);
    } catch (e) {
      showError(`Could not load earlier messages: ${e.message}`);
    } finally {
      olderBtn.disabled = false;
    }
  });

  // ------------------------------------------------------------ composing

  function showError(text) {
    errorEl.textContent = text;
  }

  async function submit(text) {
    text = text.trim();
    if (!text || mode === 'shared') return;
    errorEl.textContent = '';
    if (mode === 'new') {
      // The first message creates the conversation (REST), titled after the question.
      sendBtn.disabled = true;
      try {
        const title = text.replace(/\s+/g, ' ').slice(0, 60);
        conv = await api.post('/api/conversations', { title });
      } catch (e) {
        showError(e.status === 0 ? 'The server cannot be reached; try again when you are back online.' : `Could not start a chat: ${e.message}`);
        return;
      } finally {
        sendBtn.disabled = false;
      }
      mode = 'own';
      cid = conv.id;
      sidebar.upsert(conv);
      sidebar.setActive(cid);
      socket.follow(cid, 0);
      setHeader();
      history.replaceState(null, '', `#/c/${cid}`); // no hashchange: the view is already here
      draft.moveTo(cid);
    }
    let entry;
    try {
      entry = socket.send(cid, text);
    } catch (e) {
      showError(e.message); // queue full or too large: the text stays in the box
      return;
    }
    input.value = '';
    draft.clear();
    addPending(entry);
    toBottom(); // your own message always brings you down to it
  }

  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(input.value);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit(input.value);
    }
  });
  stopBtn.addEventListener('click', () => {
    if (!cid || !socket.stopAnswer(cid)) showError('Not connected: the answer cannot be stopped right now.');
  });
  for (const chip of document.querySelectorAll('[data-suggest]')) {
    chip.addEventListener('click', () => submit(chip.dataset.suggest));
  }

  // ------------------------------------------------------------ conversation actions

  async function patch(body) {
    if (!cid || mode !== 'own') return null;
    try {
      const updated = await api.patch(`/api/conversations/${enc(cid)}`, body);
      conv = updated;
      sidebar.upsert(updated);
      setHeader();
      return updated;
    } catch (e) {
      showError(`Could not update the chat: ${e.message}`);
      return null;
    }
  }

  function shareUrl(id) {
    return `${location.origin}${location.pathname}#/shared/${id}`;
  }

  function closeShare() {
    shareBox.hidden = true;
    shareBtn.setAttribute('aria-expanded', 'false');
    shareStatus.textContent = '';
  }

  shareBtn.addEventListener('click', () => {
    const open = shareBox.hidden;
    shareBox.hidden = !open;
    shareBtn.setAttribute('aria-expanded', String(open));
    if (open) shareToggle.focus();
  });
  shareToggle.addEventListener('change', async () => {
    const want = shareToggle.checked;
    const updated = await patch({ shared: want });
    if (!updated) shareToggle.checked = !want;
    else shareStatus.textContent = want ? 'Link sharing is on.' : 'Link sharing is off; the link no longer works.';
  });
  $('#copy-btn').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(shareLink.value);
      shareStatus.textContent = 'Link copied.';
    } catch {
      // No clipboard permission (e.g. insecure origin): select it so Ctrl+C works.
      shareLink.select();
      shareStatus.textContent = 'Press Ctrl+C to copy the selected link.';
    }
  });

  $('#rename-btn').addEventListener('click', () => {
    menu.open = false;
    renameInput.value = conv?.title ?? '';
    titleEl.hidden = true;
    renameForm.hidden = false;
    renameInput.focus();
    renameInput.select();
  });
  const endRename = () => {
    renameForm.hidden = true;
    titleEl.hidden = false;
    titleEl.focus();
  };
  renameForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const title = renameInput.value.trim();
    if (title && title !== conv?.title) await patch({ title });
    endRename();
  });
  $('#rename-cancel').addEventListener('click', endRename);
  renameInput.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      endRename();
    }
  });
  $('#pin-btn').addEventListener('click', async () => {
    menu.open = false;
    await patch({ pinned: !conv?.pinned });
  });
  $('#archive-btn').addEventListener('click', async () => {
    menu.open = false;
    await patch({ archived: !conv?.archived });
  });
  $('#delete-btn').addEventListener('click', async () => {
    menu.open = false;
    if (!cid || !confirm(`Delete “${conv?.title ?? 'this chat'}” and all its messages? This cannot be undone.`)) return;
    try {
      await api.del(`/api/conversations/${enc(cid)}`);
      sidebar.remove(cid);
      location.hash = '#/';
    } catch (e) {
      showError(`Could not delete the chat: ${e.message}`);
    }
  });
  async function exportAs(format) {
    menu.open = false;
    if (!cid) return;
    try {
      const { blob, name } = await api.blob(`/api/conversations/${enc(cid)}/export?format=${format}`);
      const a = h('a', { href: URL.createObjectURL(blob), download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      showError(`Could not export the chat: ${e.message}`);
    }
  }
  $('#export-md-btn').addEventListener('click', () => exportAs('markdown'));
  $('#export-json-btn').addEventListener('click', () => exportAs('json'));
  shortlist.onChange(() => refreshSaveButtons(list, shortlist));

  // Escape closes the menu and returns focus to its button.
  menu.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && menu.open) {
      menu.open = false;
      menu.querySelector('summary').focus();
    }
  });

  return { openNew, openOwn, openShared, focusComposer: () => !composer.hidden && input.focus() };
}
