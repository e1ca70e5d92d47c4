// ShopSocket: the one realtime connection of a tab (API.md "Realtime: GET /ws?ticket=T").
//
// What it guarantees, and why:
// - Full-jitter exponential backoff (sleep = random(0, min(cap, base * 2^attempt))) so that a
//   restarted server is not hit by every client at the same instant (scaling report §4).
// - A fresh one-time ticket per attempt: tickets are single use and valid 30 s.
// - An outbox of up to `queueLimit` unacknowledged `send`s, persisted in storage, so a reload or
//   an outage loses nothing. Entries leave only on `ack` (a write to a socket is no proof of
//   storage); resends carry the same `ref`, and the server's idempotency drops duplicates.
// - Heartbeat `ping` and a dead-connection timeout: a half-open TCP connection never fires
//   `close`, so silence is the only signal we get.
// - Resume: every followed conversation is re-subscribed with the highest seq seen, so the
//   server replays exactly what was missed.
// - Close codes: 4001 (auth) and 1008 (policy) stop reconnecting; 1013 and 429 back off
//   longer; 1012 (server restart) reconnects promptly.
//
// Everything environmental (WebSocket, ticket fetch, storage, timers, random) is injected so
// the module runs unchanged in the browser and under `node --test` with fakes.

const OPEN = 1;

/** Close codes with a meaning for reconnection (docs/protocol.md, RFC 6455 §7.4.1). */
export const CloseCodes = Object.freeze({
  normal: 1000,
  goingAway: 1001,
  abnormal: 1006,
  policy: 1008,
  tooLarge: 1009,
  restart: 1012,
  tryAgainLater: 1013,
  unauthorized: 4001,
  heartbeatTimeout: 4000, // local only: we gave up on a silent connection
});

/** Error codes of `err` frames that will fail the same way on every resend. */
const PERMANENT_SEND_ERRORS = new Set(['too_large', 'bad_frame', 'not_found', 'forbidden', 'invalid', 'bad_text']);

/** An error a caller can branch on by `code` (queue_full, too_large, ...). */
export class ShopSocketError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ShopSocketError';
    this.code = code;
  }
}

/** Full-jitter delay: uniformly random in [0, min(cap, base * 2^attempt)). Exported for tests. */
export function fullJitter(attempt, baseMs, capMs, random) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

const defaultTimers = () => ({
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id),
  now: () => Date.now(),
});

const defaultRef = () =>
  globalThis.crypto?.randomUUID?.() ?? `r-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

export class ShopSocket {
  /**
   * @param {object} o
   * @param {(ticket: string) => string} o.url          builds the /ws URL for a ticket
   * @param {() => Promise<string|{ticket:string}>} o.getTicket  POST /api/realtime/ticket; throw an
   *        error with `status` (401, 429, ...) and optional `retryAfterMs` when it fails
   * @param {typeof WebSocket} [o.WebSocket]
   * @param {Storage} [o.storage]   localStorage-like (getItem/setItem/removeItem)
   * @param {string} [o.storageKey] where the outbox lives; scope it per user
   */
  constructor(o = {}) {
    this.urlFor = o.url ?? ((ticket) => `/ws?ticket=${encodeURIComponent(ticket)}`);
    this.getTicket = o.getTicket;
    this.WebSocket = o.WebSocket ?? globalThis.WebSocket;
    this.storage = o.storage ?? null;
    this.storageKey = o.storageKey ?? 'shopgpt.outbox';
    this.timers = { ...defaultTimers(), ...(o.timers ?? {}) };
    this.random = o.random ?? Math.random;
    this.makeRef = o.makeRef ?? defaultRef;

    this.baseDelayMs = o.baseDelayMs ?? 500;
    this.maxDelayMs = o.maxDelayMs ?? 30_000;
    this.stableAfterMs = o.stableAfterMs ?? 10_000;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 15_000;
    this.heartbeatMs = o.heartbeatMs ?? 30_000;
    this.deadAfterBeats = o.deadAfterBeats ?? 2;
    this.queueLimit = o.queueLimit ?? 100;
    this.maxFrameBytes = o.maxFrameBytes ?? 64 * 1024;
    // Client-side pacing under the server's 10 frames/s (burst 20) bucket, leaving room for
    // pings: flushing 100 queued messages at once would otherwise earn `rate_limited` errors.
    this.burst = o.burst ?? 16;
    this.ratePerSec = o.ratePerSec ?? 8;

    this.state = 'idle';
    this.ws = null;
    this.attempt = 0;
    this.nextRetryAt = null;
    this.followed = new Map(); // cid -> highest seq seen (0 = nothing yet)
    this.sentThisConnection = new Set(); // refs written on the current socket
    this.wire = []; // frames waiting for a pacing token (this connection only)
    this.tokens = this.burst;
    this.tokensAt = this.timers.now();
    this.listeners = new Map();
    this.timer = { retry: null, connect: null, heartbeat: null, dead: null, stable: null, pump: null };
    this.online = true;
    this.connecting = false;
    this.gen = 0; // bumped by stop/reconnect so an in-flight ticket fetch knows it is stale
    this.metrics = {
      connects: 0,
      reconnects: 0,
      attempts: 0,
      rttMs: null,
      lastCloseCode: null,
      lastCloseReason: '',
      lastFrameAt: null,
      connectionId: null,
    };
    this.queue = this.#load();
  }

  // ------------------------------------------------------------------ events

  /** Subscribe to an event; returns the unsubscribe function. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  #emit(type, detail) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(detail);
      } catch (e) {
        // A faulty listener must not break the connection loop.
        globalThis.console?.error?.(e);
      }
    }
  }

  #setState(state, extra = {}) {
    this.state = state;
    this.#emit('state', { state, ...extra, ...this.snapshot() });
  }

  /** Everything a status bar or debug panel shows. */
  snapshot() {
    return {
      state: this.state,
      attempt: this.attempt,
      nextRetryAt: this.nextRetryAt,
      queueLength: this.queue.length,
      ...this.metrics,
    };
  }

  // ------------------------------------------------------------------ lifecycle

  /** Starts connecting (idempotent: one connection per instance, one instance per tab). */
  start() {
    if (this.ws || this.timer.retry !== null || this.connecting) return;
    if (!this.online) return this.#setState('offline');
    this.#connect();
  }

  /** Closes for good (sign-out, page hide); the outbox stays persisted. */
  stop() {
    this.gen++;
    this.connecting = false;
    this.#clearTimers();
    this.#dropSocket(CloseCodes.normal, 'client stop');
    this.nextRetryAt = null;
    this.#setState('stopped');
  }

  /** Reconnect now, e.g. the user pressed "Reconnect" after a 4001, or the tab came back. */
  reconnect() {
    this.gen++;
    this.#clearTimers();
    this.#dropSocket(CloseCodes.normal, 'client reconnect');
    this.attempt = 0;
    this.nextRetryAt = null;
    this.connecting = false;
    this.start();
  }

  /** Network hint from the page (`online`/`offline` events): don't burn attempts while offline. */
  setOnline(online) {
    this.online = online;
    // A halted socket (4001, 1008, stop) stays halted: a network change is no licence to retry.
    if (['unauthorized', 'blocked', 'stopped', 'idle'].includes(this.state)) return;
    if (!online) {
      if (!this.ws || this.ws.readyState !== OPEN) {
        this.#clearTimer('retry');
        this.nextRetryAt = null;
        this.#setState('offline');
      }
    } else if (this.state === 'offline' || this.state === 'reconnecting') {
      this.reconnect();
    }
  }

  async #connect() {
    const gen = this.gen;
    this.connecting = true;
    this.metrics.attempts++;
    this.nextRetryAt = null;
    this.#setState(this.metrics.connects > 0 || this.attempt > 0 ? 'reconnecting' : 'connecting', { phase: 'ticket' });
    let ticket;
    try {
      const t = await this.getTicket();
      ticket = typeof t === 'string' ? t : t?.ticket;
      if (!ticket) throw new ShopSocketError('no_ticket', 'The ticket answer had no ticket.');
    } catch (e) {
      if (gen !== this.gen) return;
      this.connecting = false;
      if (e?.status === 401) return this.#halt('unauthorized', CloseCodes.unauthorized, 'ticket refused');
      // 429: too many connections for this user (other tabs); 503: server busy. Both mean "later".
      const overloaded = e?.status === 429 || e?.status === 503;
      return this.#scheduleRetry({ overloaded, minDelayMs: e?.retryAfterMs ?? 0 });
    }
    if (gen !== this.gen) return;

    let ws;
    try {
      ws = new this.WebSocket(this.urlFor(ticket));
    } catch {
      this.connecting = false;
      return this.#scheduleRetry({});
    }
    this.ws = ws;
    this.connecting = false;
    this.sentThisConnection.clear();
    this.wire = [];
    ws.onopen = () => this.#onOpen(ws);
    ws.onmessage = (ev) => this.#onMessage(ws, ev);
    ws.onerror = () => {}; // always followed by close; close carries the code
    ws.onclose = (ev) => this.#onClose(ws, ev?.code ?? CloseCodes.abnormal, ev?.reason ?? '', ev);
    // A handshake lost in a black hole may take minutes to fail on its own; give up sooner.
    this.timer.connect = this.timers.setTimeout(() => {
      this.timer.connect = null;
      if (ws !== this.ws || ws.readyState === OPEN) return;
      this.#dropSocket(CloseCodes.abnormal, 'connect timeout');
      this.#afterClose(CloseCodes.abnormal, 'connect timeout');
    }, this.connectTimeoutMs);
  }

  #onOpen(ws) {
    if (ws !== this.ws) return;
    this.#clearTimer('connect');
    if (this.metrics.connects > 0) this.metrics.reconnects++;
    this.metrics.connects++;
    this.metrics.lastFrameAt = this.timers.now();
    this.openedAt = this.timers.now();
    this.#setState('open');
    // Only a connection that stays up earns a fresh backoff; otherwise a server that accepts
    // then drops at once would be hammered at base delay forever.
    this.timer.stable = this.timers.setTimeout(() => {
      this.timer.stable = null;
      if (ws === this.ws) this.attempt = 0;
    }, this.stableAfterMs);
    this.#scheduleHeartbeat(ws);
    // Subscriptions first so that the messages we flush are delivered back to us.
    for (const [cid, seq] of this.followed) this.#enqueueWire(this.#subFrame(cid, seq));
    this.#flushOutbox();
  }

  #onMessage(ws, ev) {
    if (ws !== this.ws) return;
    this.metrics.lastFrameAt = this.timers.now();
    let data;
    try {
      data = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data));
    } catch {
      return this.#emit('error', new ShopSocketError('bad_server_frame', 'The server sent a frame that is not JSON.'));
    }
    // A server message is one frame object or an array of frames (batching, API.md).
    const frames = Array.isArray(data) ? data : [data];
    for (const f of frames) if (f && typeof f === 'object') this.#handleFrame(f);
  }

  #handleFrame(f) {
    switch (f.t) {
      case 'hello':
        this.metrics.connectionId = f.connectionId ?? null;
        if (f.maxFrameBytes > 0) this.maxFrameBytes = f.maxFrameBytes;
        if (f.heartbeatSec > 0 && f.heartbeatSec * 1000 < this.heartbeatMs) {
          this.heartbeatMs = f.heartbeatSec * 1000;
          this.#scheduleHeartbeat(this.ws);
        }
        break;
      case 'ack':
        this.#removeFromOutbox(f.ref);
        break;
      case 'msg': {
        // Only stored messages advance the resume point: an ack's or done's seq may overtake a
        // msg still in flight, and resuming past it would lose that message.
        const cid = f.conversationId;
        if (this.followed.has(cid) && typeof f.seq === 'number' && f.seq > this.followed.get(cid)) {
          this.followed.set(cid, f.seq);
        }
        // A msg carrying our clientId is as good as an ack (the ack may be lost with the socket).
        if (f.clientId) this.#removeFromOutbox(f.clientId);
        break;
      }
      case 'pong':
        if (typeof f.ts === 'number') this.metrics.rttMs = Math.max(0, this.timers.now() - f.ts);
        this.#emit('metrics', this.snapshot());
        break;
      case 'err':
        this.#onErrFrame(f);
        break;
      default:
        break;
    }
    this.#emit('frame', f);
    if (typeof f.t === 'string') this.#emit(f.t, f);
  }

  #onErrFrame(f) {
    // A sub for a conversation that is gone (deleted in another tab): stop resuming it, or
    // every reconnect would ask again.
    if (!f.ref && f.cid && f.code === 'not_found') this.followed.delete(f.cid);
    if (!f.ref) return;
    const entry = this.queue.find((e) => e.ref === f.ref);
    if (!entry) return;
    if (PERMANENT_SEND_ERRORS.has(f.code)) {
      this.#removeFromOutbox(f.ref);
      this.#emit('failed', { ...entry, code: f.code, message: f.message });
    } else {
      // rate_limited / unavailable: resend later on this same connection.
      this.sentThisConnection.delete(f.ref);
      const ws = this.ws;
      this.timers.setTimeout(() => {
        if (ws === this.ws && ws?.readyState === OPEN) this.#flushOutbox();
      }, f.code === 'rate_limited' ? 1000 : 2000);
    }
  }

  #onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.#afterClose(code, reason);
  }

  #afterClose(code, reason) {
    this.#clearTimer('connect');
    this.#clearTimer('heartbeat');
    this.#clearTimer('dead');
    this.#clearTimer('stable');
    this.#clearTimer('pump');
    this.wire = [];
    this.metrics.lastCloseCode = code;
    this.metrics.lastCloseReason = reason ?? '';
    this.#emit('close', { code, reason });
    if (this.state === 'stopped') return;
    if (code === CloseCodes.unauthorized) return this.#halt('unauthorized', code, reason);
    if (code === CloseCodes.policy) return this.#halt('blocked', code, reason);
    if (code === CloseCodes.restart) return this.#scheduleRetry({ prompt: true });
    if (code === CloseCodes.tryAgainLater) return this.#scheduleRetry({ overloaded: true });
    this.#scheduleRetry({});
  }

  /** No automatic reconnect: the app decides (sign in again, or a "Reconnect" button). */
  #halt(state, code, reason) {
    this.#clearTimers();
    this.nextRetryAt = null;
    this.metrics.lastCloseCode = code;
    this.metrics.lastCloseReason = reason ?? '';
    this.#setState(state, { code, reason });
  }

  #scheduleRetry({ prompt = false, overloaded = false, minDelayMs = 0 }) {
    this.#clearTimer('retry');
    let delay;
    if (prompt) {
      // The server is restarting and asked us to come back: a small jitter only, no penalty.
      delay = Math.floor(this.random() * this.baseDelayMs);
      this.attempt = 0;
    } else if (overloaded) {
      // Overload signals (1013, 429) skip two steps up the curve and keep a floor of half the
      // ceiling ("equal jitter") so that the herd really thins out.
      this.attempt += 2;
      const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.attempt, 30));
      delay = Math.floor(ceiling / 2 + this.random() * (ceiling / 2));
      this.attempt++;
    } else {
      delay = fullJitter(this.attempt, this.baseDelayMs, this.maxDelayMs, this.random);
      this.attempt++;
    }
    delay = Math.max(delay, minDelayMs);
    if (!this.online) {
      this.nextRetryAt = null;
      return this.#setState('offline');
    }
    this.nextRetryAt = this.timers.now() + delay;
    this.timer.retry = this.timers.setTimeout(() => {
      this.timer.retry = null;
      this.#connect();
    }, delay);
    this.#setState('reconnecting', { delayMs: delay });
  }

  // ------------------------------------------------------------------ heartbeat

  #scheduleHeartbeat(ws) {
    this.#clearTimer('heartbeat');
    this.timer.heartbeat = this.timers.setTimeout(() => {
      this.timer.heartbeat = null;
      if (ws !== this.ws) return;
      this.#sendNow({ t: 'ping', ts: this.timers.now() });
      this.#scheduleHeartbeat(ws);
    }, this.heartbeatMs);
    this.#scheduleDeadCheck(ws);
  }

  /**
   * A dead connection may never deliver `close` (half-open TCP), so silence for
   * `deadAfterBeats` heartbeats is treated as death. The check is lazy: frames only stamp
   * `lastFrameAt`, and the timer re-arms itself for the remaining window, so a stream of
   * deltas does not churn timers.
   */
  #scheduleDeadCheck(ws) {
    this.#clearTimer('dead');
    const window = this.heartbeatMs * this.deadAfterBeats;
    const due = (this.metrics.lastFrameAt ?? this.timers.now()) + window - this.timers.now();
    this.timer.dead = this.timers.setTimeout(() => {
      this.timer.dead = null;
      if (ws !== this.ws) return;
      if (this.timers.now() - (this.metrics.lastFrameAt ?? 0) >= window) {
        this.#dropSocket(CloseCodes.heartbeatTimeout, 'heartbeat timeout');
        return this.#afterClose(CloseCodes.heartbeatTimeout, 'heartbeat timeout');
      }
      this.#scheduleDeadCheck(ws);
    }, Math.max(1, due));
  }

  // ------------------------------------------------------------------ conversations

  /** Follow a conversation; `afterSeq` is the highest seq the caller already shows. */
  follow(cid, afterSeq = 0) {
    const known = this.followed.get(cid) ?? 0;
    const seq = Math.max(known, afterSeq ?? 0);
    this.followed.set(cid, seq);
    if (this.#isOpen()) this.#enqueueWire(this.#subFrame(cid, seq));
  }

  unfollow(cid) {
    if (!this.followed.delete(cid)) return;
    if (this.#isOpen()) this.#enqueueWire({ t: 'unsub', cid });
  }

  /** The app saw a message by other means (REST page): move the resume point forward. */
  noteSeq(cid, seq) {
    if (this.followed.has(cid) && seq > this.followed.get(cid)) this.followed.set(cid, seq);
  }

  #subFrame(cid, seq) {
    return seq > 0 ? { t: 'sub', cid, afterSeq: seq } : { t: 'sub', cid, afterSeq: 0 };
  }

  // ------------------------------------------------------------------ sending

  /**
   * Queue a user message. Returns the outbox entry ({ref, cid, text, createdAt}); throws a
   * ShopSocketError `queue_full` (101st unacknowledged message) or `too_large`.
   */
  send(cid, text) {
    this.queue = this.#load(); // another tab may have changed the persisted outbox
    const ref = this.makeRef();
    const frameBytes = utf8Length(JSON.stringify({ t: 'send', cid, ref, text }));
    if (frameBytes > this.maxFrameBytes) {
      const err = new ShopSocketError('too_large', `The message is too long (${frameBytes} bytes; the limit is ${this.maxFrameBytes}).`);
      this.#emit('error', err);
      throw err;
    }
    if (this.queue.length >= this.queueLimit) {
      const err = new ShopSocketError(
        'queue_full',
        `${this.queue.length} messages are waiting to be sent; wait for the connection before sending more.`,
      );
      this.#emit('error', err);
      throw err;
    }
    const entry = { ref, cid, text, createdAt: new Date(this.timers.now()).toISOString() };
    this.queue.push(entry);
    this.#save();
    this.#emit('queue', { length: this.queue.length, added: entry });
    if (this.#isOpen()) this.#flushOutbox();
    return entry;
  }

  /** Ask the server to stop the answer in progress; only meaningful while connected. */
  stopAnswer(cid) {
    if (!this.#isOpen()) return false;
    this.#sendNow({ t: 'stop', cid });
    return true;
  }

  /** Unacknowledged messages of one conversation, oldest first (for "sending…" bubbles). */
  pending(cid) {
    return this.queue.filter((e) => e.cid === cid);
  }

  /** Re-read the persisted outbox (e.g. on a `storage` event from another tab). */
  reloadQueue() {
    this.queue = this.#load();
    this.#emit('queue', { length: this.queue.length });
  }

  #flushOutbox() {
    this.queue = this.#load();
    for (const e of this.queue) {
      if (this.sentThisConnection.has(e.ref)) continue;
      this.sentThisConnection.add(e.ref);
      this.#enqueueWire({ t: 'send', cid: e.cid, ref: e.ref, text: e.text });
    }
  }

  #removeFromOutbox(ref) {
    this.queue = this.#load();
    const before = this.queue.length;
    this.queue = this.queue.filter((e) => e.ref !== ref);
    if (this.queue.length === before) return;
    this.sentThisConnection.delete(ref);
    this.#save();
    this.#emit('queue', { length: this.queue.length, removed: ref });
  }

  #isOpen() {
    return this.ws !== null && this.ws.readyState === OPEN;
  }

  // ------------------------------------------------------------------ pacing

  #refill() {
    const now = this.timers.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.ratePerSec);
    this.tokensAt = now;
  }

  #enqueueWire(frame) {
    this.wire.push(frame);
    this.#pump();
  }

  /** Heartbeats and stops skip the line: they are rare and time-critical. */
  #sendNow(frame) {
    this.#refill();
    this.tokens = Math.max(0, this.tokens - 1);
    this.#write(frame);
  }

  #pump() {
    if (!this.#isOpen()) return;
    this.#refill();
    while (this.wire.length && this.tokens >= 1) {
      this.tokens -= 1;
      this.#write(this.wire.shift());
    }
    if (this.wire.length && this.timer.pump === null) {
      const wait = Math.ceil(((1 - this.tokens) / this.ratePerSec) * 1000);
      this.timer.pump = this.timers.setTimeout(() => {
        this.timer.pump = null;
        this.#pump();
      }, Math.max(1, wait));
    }
  }

  #write(frame) {
    if (!this.#isOpen()) return;
    try {
      this.ws.send(JSON.stringify(frame));
    } catch {
      // The socket died between the check and the write; close handling will resend.
    }
  }

  // ------------------------------------------------------------------ helpers

  #dropSocket(code, reason) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close(code === CloseCodes.heartbeatTimeout ? 4000 : 1000, reason);
    } catch {
      // Already closed.
    }
  }

  #clearTimer(name) {
    if (this.timer[name] !== null) {
      this.timers.clearTimeout(this.timer[name]);
      this.timer[name] = null;
    }
  }

  #clearTimers() {
    for (const name of Object.keys(this.timer)) this.#clearTimer(name);
  }

  #load() {
    if (!this.storage) return this.queue ?? [];
    try {
      const raw = this.storage.getItem(this.storageKey);
      const parsed = raw ? JSON.parse(raw) : null;
      const items = Array.isArray(parsed?.items) ? parsed.items : [];
      return items.filter((e) => e && typeof e.ref === 'string' && typeof e.cid === 'string' && typeof e.text === 'string');
    } catch {
      return [];
    }
  }

  #save() {
    if (!this.storage) return;
    try {
      if (this.queue.length === 0) this.storage.removeItem(this.storageKey);
      else this.storage.setItem(this.storageKey, JSON.stringify({ v: 1, items: this.queue }));
    } catch (e) {
      // Storage full or disabled (private mode): keep working from memory, but say so.
      this.#emit('error', new ShopSocketError('storage', `The offline queue could not be saved: ${e?.message ?? e}`));
    }
  }
}

function utf8Length(s) {
  if (globalThis.TextEncoder) return new TextEncoder().encode(s).length;
  return s.length * 3;
}
