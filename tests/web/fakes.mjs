// Test doubles for shopsocket: a manual clock, an in-memory Storage and a scriptable WebSocket.
// Nothing here sleeps: time moves only when a test calls clock.advance().

/** Timers that fire only when the test advances time; awaits microtasks between timers. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this.seq = 0;
    this.pending = new Map(); // id -> {at, fn, order}
  }
  now = () => this.t;
  setTimeout = (fn, ms = 0) => {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + Math.max(0, ms), fn, order: id });
    return id;
  };
  clearTimeout = (id) => {
    this.pending.delete(id);
  };
  /** Run every timer due within `ms`, in time order, letting promises settle after each. */
  async advance(ms) {
    const target = this.t + ms;
    await settle();
    for (;;) {
      const next = [...this.pending.entries()]
        .filter(([, p]) => p.at <= target)
        .sort((a, b) => a[1].at - b[1].at || a[1].order - b[1].order)[0];
      if (!next) break;
      const [id, p] = next;
      this.pending.delete(id);
      this.t = p.at;
      p.fn();
      await settle();
    }
    this.t = target;
    await settle();
  }
  /** Delays of the timers currently scheduled (relative to now). */
  delays() {
    return [...this.pending.values()].map((p) => p.at - this.t);
  }
}

/** Let queued promise callbacks (ticket fetches) run; macrotask-free, so still no sleeping. */
export async function settle() {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

export class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
}

/** A WebSocket class whose instances the test drives from the "server" side. */
export function fakeWebSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedBy = null;
      sockets.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error('not open');
      this.sent.push(JSON.parse(data));
    }
    close(code = 1000, reason = '') {
      this.closedBy = { code, reason };
      this.readyState = 3;
    }
    // ---- server side
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(frameOrFrames) {
      this.onmessage?.({ data: JSON.stringify(frameOrFrames) });
    }
    serverClose(code, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    framesOfType(t) {
      return this.sent.filter((f) => f.t === t);
    }
  }
  return { FakeWebSocket, sockets };
}
