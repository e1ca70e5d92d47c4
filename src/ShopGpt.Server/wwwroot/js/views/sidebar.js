// The conversation list (keyset infinite scroll over GET /api/conversations) and message search.
import { $, h, debounce, shortTime } from '../dom.js';
import { enc } from '../api.js';

const PAGE = 20;

export function mountSidebar({ api, onNavigate }) {
  const listEl = $('#conv-list');
  const statusEl = $('#list-status');
  const sentinel = $('#list-sentinel');
  const scroller = $('#sidebar-scroll');
  const searchInput = $('#search-input');
  const results = $('#search-results');
  const searchList = $('#search-list');
  const searchStatus = $('#search-status');
  const convSection = $('#conv-section');
  const tabs = { chats: $('#tab-chats'), archived: $('#tab-archived') };

  let view = 'chats';
  let items = []; // server order (newest activity first)
  let cursor = null;
  let done = false;
  let loading = false;
  let generation = 0; // a tab switch makes in-flight pages stale
  let activeId = null;

  async function loadMore() {
    if (loading || done) return;
    loading = true;
    const gen = generation;
    statusEl.textContent = items.length ? 'Loading more…' : 'Loading…';
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) q.set('cursor', cursor);
      if (view === 'archived') q.set('archived', 'true');
      const page = await api.get(`/api/conversations?${q}`);
      if (gen !== generation) return;
      const known = new Set(items.map((c) => c.id));
      // Keyset paging never repeats a conversation, but one we created locally may come back.
      items.push(...page.items.filter((c) => !known.has(c.id)));
      cursor = page.nextCursor;
      done = !cursor;
      render();
      statusEl.textContent = items.length === 0 ? (view === 'archived' ? 'No archived chats.' : 'No chats yet.') : '';
    } catch (e) {
      if (gen !== generation) return;
      statusEl.textContent = `Could not load chats: ${e.message}`;
      statusEl.append(' ', h('button', { type: 'button', class: 'link-btn', onclick: () => loadMore() }, 'Retry'));
    } finally {
      if (gen === generation) loading = false;
      // The sentinel may still be visible (tall screen): keep filling until it is not.
      if (gen === generation && !done && isSentinelVisible()) queueMicrotask(loadMore);
    }
  }

  function isSentinelVisible() {
    const r = sentinel.getBoundingClientRect();
    const s = scroller.getBoundingClientRect();
    return r.top < s.bottom + 200 && r.bottom > s.top - 200 && scroller.offsetParent !== null;
  }

  new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore(), {
    root: scroller,
    rootMargin: '200px',
  }).observe(sentinel);

  function render() {
    const pinned = items.filter((c) => c.pinned);
    const rest = items.filter((c) => !c.pinned);
    const nodes = [];
    if (pinned.length) nodes.push(h('li', { class: 'group-label', role: 'presentation' }, 'Pinned'), ...pinned.map(row));
    if (pinned.length && rest.length) nodes.push(h('li', { class: 'group-label', role: 'presentation' }, 'Recent'));
    nodes.push(...rest.map(row));
    listEl.replaceChildren(...nodes);
  }

  function row(c) {
    const preview = c.lastMessage?.text ? previewOf(c.lastMessage) : 'No messages yet';
    return h(
      'li',
      {},
      h(
        'a',
        {
          class: 'conv-link',
          href: `#/c/${c.id}`,
          'aria-current': c.id === activeId ? 'page' : undefined,
          onclick: () => onNavigate?.(),
        },
        h(
          'span',
          { class: 'conv-line' },
          h('span', { class: 'conv-title' }, c.title || 'Untitled'),
          c.pinned ? h('span', { class: 'sr-only' }, ' (pinned)') : null,
          c.shared ? h('span', { class: 'badge' }, 'Shared') : null,
          h('time', { class: 'conv-time', dateTime: c.updatedAt }, shortTime(c.updatedAt)),
        ),
        h('span', { class: 'conv-preview' }, preview),
      ),
    );
  }

  function previewOf(m) {
    const who = m.role === 'user' ? 'You: ' : '';
    return who + m.text.replace(/[*|#]/g, '').replace(/\s+/g, ' ').slice(0, 120);
  }

  function reset(next) {
    view = next;
    generation++;
    items = [];
    cursor = null;
    done = false;
    loading = false;
    for (const [k, b] of Object.entries(tabs)) b.setAttribute('aria-pressed', String(k === view));
    listEl.replaceChildren();
    loadMore();
  }
  tabs.chats.addEventListener('click', () => view !== 'chats' && reset('chats'));
  tabs.archived.addEventListener('click', () => view !== 'archived' && reset('archived'));

  // ------------------------------------------------------------ search
  let searchGen = 0;
  const runSearch = debounce(async (q) => {
    const gen = ++searchGen;
    if (q.length < 3) {
      results.hidden = true;
      convSection.hidden = false;
      return;
    }
    results.hidden = false;
    convSection.hidden = true;
    searchStatus.textContent = 'Searching…';
    try {
      const page = await api.get(`/api/search/messages?q=${enc(q)}&limit=20`);
      if (gen !== searchGen) return;
      const hits = page?.items ?? [];
      searchList.replaceChildren(
        ...hits.map((m) =>
          h(
            'li',
            {},
            h(
              'a',
              { class: 'conv-link', href: `#/c/${m.conversationId}`, onclick: () => onNavigate?.() },
              h('span', { class: 'conv-line' }, h('span', { class: 'conv-title' }, m.role === 'user' ? 'You' : 'ShopGPT'), h('time', { class: 'conv-time', dateTime: m.createdAt }, shortTime(m.createdAt))),
              h('span', { class: 'conv-preview' }, highlight(m.text, q)),
            ),
          ),
        ),
      );
      searchStatus.textContent = hits.length ? `${hits.length} result${hits.length === 1 ? '' : 's'}` : 'No messages match.';
    } catch (e) {
      if (gen !== searchGen) return;
      searchList.replaceChildren();
      // The search endpoint may not exist on this server yet (404): say so rather than fail.
      searchStatus.textContent = e.status === 404 ? 'Search is not available yet.' : `Search failed: ${e.message}`;
    }
  }, 300);

  /** A snippet around the first match, with the match in <mark> (text nodes only). */
  function highlight(text, q) {
    const flat = text.replace(/\s+/g, ' ');
    const at = flat.toLowerCase().indexOf(q.toLowerCase());
    if (at < 0) return flat.slice(0, 140);
    const start = Math.max(0, at - 40);
    const frag = document.createDocumentFragment();
    frag.append((start > 0 ? '…' : '') + flat.slice(start, at), h('mark', {}, flat.slice(at, at + q.length)), flat.slice(at + q.length, at + q.length + 90));
    return frag;
  }

  searchInput.addEventListener('input', () => runSearch(searchInput.value.trim()));
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    runSearch(searchInput.value.trim());
  });
  searchInput.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && searchInput.value) {
      e.stopPropagation();
      searchInput.value = '';
      runSearch('');
    }
  });

  reset('chats');

  return {
    setActive(id) {
      activeId = id;
      for (const a of listEl.querySelectorAll('a.conv-link')) {
        if (a.getAttribute('href') === `#/c/${id}`) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      }
    },
    /** A conversation was created or changed here: show its new state (and order). */
    upsert(conv) {
      const inView = view === 'archived' ? conv.archived : !conv.archived;
      const i = items.findIndex((c) => c.id === conv.id);
      if (!inView) {
        if (i >= 0) items.splice(i, 1);
      } else if (i >= 0) {
        const moved = conv.updatedAt && conv.updatedAt !== items[i].updatedAt;
        const merged = { ...items[i], ...conv };
        if (moved) {
          items.splice(i, 1);
          items.unshift(merged);
        } else items[i] = merged;
      } else items.unshift(conv);
      render();
      if (items.length) statusEl.textContent = '';
    },
    /** A message arrived live: move its conversation to the top with a fresh preview. */
    noteMessage(m) {
      const c = items.find((x) => x.id === m.conversationId);
      if (!c) return;
      this.upsert({ ...c, lastMessage: m, updatedAt: m.createdAt ?? new Date().toISOString() });
    },
    remove(id) {
      items = items.filter((c) => c.id !== id);
      render();
    },
    get(id) {
      return items.find((c) => c.id === id) ?? null;
    },
  };
}
