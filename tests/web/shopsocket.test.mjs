// Unit tests of the resilient realtime client, with a fake WebSocket and a manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShopSocket, fullJitter, CloseCodes } from '../../src/ShopGpt.Server/wwwroot/js/shopsocket.js';
import { FakeClock, MemoryStorage, fakeWebSocketClass, settle } from './fakes.mjs';

/** A socket over fakes; `random` defaults to a fixed sequence so delays are predictable. */
function setup(o = {}) {
  const clock = o.clock ?? new FakeClock();
  const storage = o.storage ?? new MemoryStorage();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  let tickets = 0;
  let refs = 0;
  const ticketBehaviour = { fail: null };
  const sock = new ShopSocket({
    url: (t) => `ws://test/ws?ticket=${t}`,
    getTicket: async () => {
      if (ticketBehaviour.fail) throw ticketBehaviour.fail;
      return { ticket: `T${++tickets}` };
    },
    WebSocket: FakeWebSocket,
    storage,
    storageKey: 'outbox.test',
    timers: clock,
    random: o.random ?? (() => 0.5),
    makeRef: o.makeRef ?? (() => `ref-${++refs}`),
    ...o.options,
  });
  const last = () => sockets[sockets.length - 1];
  /** Start (or wait for the pending reconnect) and open the newest socket. */
  const connect = async () => {
    if (sock.state === 'idle') sock.start();
    await settle();
    const before = sockets.length;
    if (sock.timer.retry !== null) await clock.advance(sock.nextRetryAt - clock.now());
    await settle();
    assert.ok(sockets.length > before || (before > 0 && last().readyState === 0), 'a socket was created');
    last().open();
    return last();
  };
  return { sock, clock, storage, sockets, last, connect, ticketBehaviour, ticketCount: () => tickets };
}

test('full jitter stays within [0, min(cap, base*2^attempt)) and varies with random', () => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const ceiling = Math.min(30_000, 500 * 2 ** attempt);
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const d = fullJitter(attempt, 500, 30_000, () => r);
      assert.ok(d >= 0 && d < ceiling, `attempt ${attempt}: ${d} within [0, ${ceiling})`);
    }
  }
  assert.equal(fullJitter(3, 500, 30_000, () => 0.5), 2000);
  assert.equal(fullJitter(12, 500, 30_000, () => 0.5), 15_000, 'capped at 30 s before jitter');
});

test('reconnect delays grow, are capped at 30 s and are jittered (not all the same)', async () => {
  let i = 0;
  const randoms = [0.9, 0.1, 0.7, 0.3, 0.95, 0.5, 0.2, 0.8, 0.99, 0.05, 0.6, 0.4];
  const { sock, clock, ticketBehaviour } = setup({ random: () => randoms[i++ % randoms.length] });
  ticketBehaviour.fail = Object.assign(new Error('down'), { status: 0 });
  sock.start();
  await settle();
  const delays = [];
  for (let n = 0; n < 12; n++) {
    const d = sock.nextRetryAt - clock.now();
    delays.push(d);
    const ceiling = Math.min(30_000, 500 * 2 ** n);
    assert.ok(d >= 0 && d < ceiling, `retry ${n}: ${d} in [0, ${ceiling})`);
    assert.equal(sock.state, 'reconnecting');
    await clock.advance(d);
  }
  assert.ok(Math.max(...delays) <= 30_000);
  assert.ok(new Set(delays.slice(6)).size > 1, 'delays at the cap still differ (jitter)');
  assert.equal(sock.metrics.attempts, 13);
});

test('each attempt uses a fresh ticket in the URL', async () => {
  const { sock, connect, sockets, ticketCount } = setup();
  const a = await connect();
  a.serverClose(1006);
  await connect();
  assert.equal(ticketCount(), 2);
  assert.equal(sockets[0].url, 'ws://test/ws?ticket=T1');
  assert.equal(sockets[1].url, 'ws://test/ws?ticket=T2');
  assert.equal(sock.metrics.reconnects, 1);
});

test('backoff resets only after the connection was stable', async () => {
  const { sock, clock, connect } = setup({ options: { stableAfterMs: 10_000 } });
  let ws = await connect();
  for (let n = 0; n < 4; n++) {
    ws.serverClose(1006);
    ws = await connect(); // drops at once: the attempt counter keeps growing
  }
  assert.equal(sock.attempt, 4);
  await clock.advance(10_000);
  assert.equal(sock.attempt, 0, 'stable for 10 s resets the curve');
});

test('the 101st queued message is refused with a queue_full error event', async () => {
  const { sock } = setup();
  const errors = [];
  sock.on('error', (e) => errors.push(e.code));
  for (let n = 0; n < 100; n++) sock.send('c1', `m${n}`);
  assert.equal(sock.queue.length, 100);
  assert.throws(() => sock.send('c1', 'one too many'), (e) => e.code === 'queue_full');
  assert.deepEqual(errors, ['queue_full']);
  assert.equal(sock.queue.length, 100);
  assert.equal(sock.snapshot().queueLength, 100);
});

test('queued messages are flushed in order on connect, after the subscriptions', async () => {
  const { sock, connect, clock } = setup();
  sock.follow('c1', 7);
  for (let n = 0; n < 30; n++) sock.send('c1', `m${n}`);
  const ws = await connect();
  await clock.advance(10_000); // let the pacer drain
  const kinds = ws.sent.map((f) => f.t);
  assert.equal(kinds[0], 'sub');
  const sends = ws.framesOfType('send');
  assert.deepEqual(sends.map((f) => f.text), Array.from({ length: 30 }, (_, n) => `m${n}`));
  assert.deepEqual(sends.map((f) => f.ref), Array.from({ length: 30 }, (_, n) => `ref-${n + 1}`));
});

test('the client paces a large flush under the server rate limit', async () => {
  const { sock, connect, clock } = setup();
  for (let n = 0; n < 40; n++) sock.send('c1', `m${n}`);
  const ws = await connect();
  assert.ok(ws.sent.length <= 16, `burst limited: ${ws.sent.length}`);
  await clock.advance(1000);
  assert.ok(ws.sent.length <= 16 + 9, `about 8 per second after the burst: ${ws.sent.length}`);
  await clock.advance(5000);
  assert.equal(ws.framesOfType('send').length, 40);
});

test('an entry leaves the queue on ack, not on write, and unacked ones are resent in order after a reconnect', async () => {
  const { sock, connect } = setup();
  let ws = await connect();
  sock.send('c1', 'first');
  sock.send('c1', 'second');
  sock.send('c1', 'third');
  assert.equal(ws.framesOfType('send').length, 3);
  assert.equal(sock.queue.length, 3, 'written is not stored');
  ws.receive({ t: 'ack', ref: 'ref-1', id: 'm1', seq: 1 });
  assert.deepEqual(sock.queue.map((e) => e.text), ['second', 'third']);
  ws.serverClose(1006);
  sock.send('c1', 'fourth'); // typed while disconnected
  ws = await connect();
  assert.deepEqual(ws.framesOfType('send').map((f) => [f.ref, f.text]), [
    ['ref-2', 'second'],
    ['ref-3', 'third'],
    ['ref-4', 'fourth'],
  ]);
});

test('a reconnect resumes each followed conversation with the highest seq seen', async () => {
  const { sock, connect } = setup();
  sock.follow('c1', 3);
  sock.follow('c2');
  let ws = await connect();
  assert.deepEqual(ws.framesOfType('sub'), [
    { t: 'sub', cid: 'c1', afterSeq: 3 },
    { t: 'sub', cid: 'c2', afterSeq: 0 },
  ]);
  ws.receive({ t: 'msg', id: 'a', conversationId: 'c1', seq: 4, role: 'user', text: 'x' });
  ws.receive({ t: 'msg', id: 'b', conversationId: 'c1', seq: 5, role: 'assistant', text: 'y' });
  ws.receive({ t: 'msg', id: 'c', conversationId: 'c2', seq: 1, role: 'user', text: 'z' });
  ws.receive({ t: 'ack', ref: 'zzz', id: 'q', seq: 99 }); // acks don't move the resume point
  ws.receive({ t: 'done', cid: 'c1', id: 'r', seq: 50, status: 'complete' }); // nor does done
  sock.unfollow('c3'); // never followed: no frame
  ws.serverClose(1001);
  ws = await connect();
  assert.deepEqual(ws.framesOfType('sub'), [
    { t: 'sub', cid: 'c1', afterSeq: 5 },
    { t: 'sub', cid: 'c2', afterSeq: 1 },
  ]);
});

test('unfollowed conversations are not resumed', async () => {
  const { sock, connect } = setup();
  sock.follow('c1', 1);
  let ws = await connect();
  sock.unfollow('c1');
  assert.deepEqual(ws.framesOfType('unsub'), [{ t: 'unsub', cid: 'c1' }]);
  ws.serverClose(1006);
  ws = await connect();
  assert.equal(ws.framesOfType('sub').length, 0);
});

test('heartbeat pings every 30 s and a silent connection is dropped and replaced', async () => {
  const { sock, clock, connect, sockets } = setup();
  const ws = await connect();
  await clock.advance(30_000);
  assert.equal(ws.framesOfType('ping').length, 1);
  const ping = ws.framesOfType('ping')[0];
  await clock.advance(40); // the pong arrives 40 ms later
  ws.receive({ t: 'pong', ts: ping.ts });
  assert.equal(sock.metrics.rttMs, 40);
  // From now on the server says nothing: two heartbeats of silence is death.
  await clock.advance(60_000);
  assert.equal(ws.closedBy?.code, 4000, 'the client closed the dead socket itself');
  assert.equal(sock.metrics.lastCloseCode, CloseCodes.heartbeatTimeout);
  assert.equal(sock.state, 'reconnecting');
  await clock.advance(sock.nextRetryAt - clock.now());
  assert.equal(sockets.length, 2, 'a new connection is attempted');
});

test('frames keep a connection alive: no timeout while the server talks', async () => {
  const { clock, connect, sockets } = setup();
  const ws = await connect();
  for (let n = 0; n < 10; n++) {
    await clock.advance(25_000);
    ws.receive({ t: 'pong' });
  }
  assert.equal(ws.closedBy, null);
  assert.equal(sockets.length, 1);
});

test('close 4001 does not reconnect and reports unauthorized', async () => {
  const { sock, clock, connect, sockets } = setup();
  const states = [];
  sock.on('state', (s) => states.push(s.state));
  const ws = await connect();
  ws.serverClose(4001, 'session revoked');
  await clock.advance(10 * 60_000);
  assert.equal(sockets.length, 1);
  assert.equal(sock.state, 'unauthorized');
  assert.equal(sock.metrics.lastCloseCode, 4001);
  assert.equal(states.at(-1), 'unauthorized');
  sock.reconnect(); // the app decides, e.g. after signing in again
  await settle();
  assert.equal(sockets.length, 2);
});

test('close 1008 does not reconnect (no storm after a policy close)', async () => {
  const { sock, clock, connect, sockets } = setup();
  (await connect()).serverClose(1008, 'rate');
  await clock.advance(10 * 60_000);
  assert.equal(sockets.length, 1);
  assert.equal(sock.state, 'blocked');
});

test('a 401 on the ticket stops reconnecting', async () => {
  const { sock, clock, sockets, ticketBehaviour } = setup();
  ticketBehaviour.fail = Object.assign(new Error('401'), { status: 401 });
  sock.start();
  await clock.advance(60_000);
  assert.equal(sock.state, 'unauthorized');
  assert.equal(sockets.length, 0);
});

test('1013 and 429 back off longer than a plain drop; 1012 reconnects promptly', async () => {
  const plain = setup({ random: () => 0 });
  (await plain.connect()).serverClose(1006);
  const plainDelay = plain.sock.nextRetryAt - plain.clock.now();

  const busy = setup({ random: () => 0 });
  (await busy.connect()).serverClose(1013);
  const busyDelay = busy.sock.nextRetryAt - busy.clock.now();
  assert.ok(busyDelay >= 1000 && busyDelay > plainDelay, `1013 waits (${busyDelay} ms)`);

  const limited = setup({ random: () => 0 });
  limited.ticketBehaviour.fail = Object.assign(new Error('429'), { status: 429, retryAfterMs: 7000 });
  limited.sock.start();
  await settle();
  assert.ok(limited.sock.nextRetryAt - limited.clock.now() >= 7000, 'Retry-After is honoured');

  const restart = setup({ random: () => 0.99 });
  const ws = await restart.connect();
  for (let n = 0; n < 3; n++) {
    (n === 0 ? ws : restart.last()).serverClose(1006);
    await restart.connect();
  }
  restart.last().serverClose(1012, 'shutting down');
  assert.ok(restart.sock.nextRetryAt - restart.clock.now() < 500, '1012: back within the base delay');
});

test('batched arrays of frames are unpacked in order', async () => {
  const { sock, connect } = setup();
  const seen = [];
  sock.on('frame', (f) => seen.push(f.t + (f.text ?? '')));
  const deltas = [];
  sock.on('delta', (f) => deltas.push(f.text));
  const ws = await connect();
  ws.receive([
    { t: 'delta', cid: 'c', id: 'a', text: 'Hel' },
    { t: 'delta', cid: 'c', id: 'a', text: 'lo' },
    { t: 'done', cid: 'c', id: 'a', seq: 2, status: 'complete' },
  ]);
  ws.receive({ t: 'pong' });
  assert.deepEqual(seen, ['deltaHel', 'deltalo', 'done', 'pong']);
  assert.deepEqual(deltas, ['Hel', 'lo']);
});

test('the queue survives a reload: a new instance over the same storage sends it', async () => {
  const storage = new MemoryStorage();
  const first = setup({ storage });
  first.sock.send('c1', 'typed while offline 1');
  first.sock.send('c1', 'typed while offline 2');
  first.sock.stop(); // the page goes away

  const second = setup({ storage, makeRef: () => 'new-ref' });
  assert.equal(second.sock.queue.length, 2);
  const ws = await second.connect();
  assert.deepEqual(ws.framesOfType('send').map((f) => [f.ref, f.text]), [
    ['ref-1', 'typed while offline 1'],
    ['ref-2', 'typed while offline 2'],
  ]);
  ws.receive([
    { t: 'ack', ref: 'ref-1', id: 'x', seq: 1 },
    { t: 'ack', ref: 'ref-2', id: 'y', seq: 2 },
  ]);
  assert.equal(second.sock.queue.length, 0);
  assert.equal(storage.getItem('outbox.test'), null);
});

test('a msg carrying our clientId clears the entry even if the ack was lost', async () => {
  const { sock, connect } = setup();
  sock.follow('c1');
  const ws = await connect();
  sock.send('c1', 'hi');
  ws.receive({ t: 'msg', id: 'm', conversationId: 'c1', seq: 1, role: 'user', text: 'hi', clientId: 'ref-1' });
  assert.equal(sock.queue.length, 0);
});

test('permanent send errors drop the entry and are reported; rate limits are retried', async () => {
  const { sock, connect, clock } = setup();
  const failed = [];
  sock.on('failed', (e) => failed.push([e.ref, e.code]));
  const ws = await connect();
  sock.send('c1', 'bad');
  sock.send('c1', 'later');
  ws.receive({ t: 'err', code: 'not_found', ref: 'ref-1', message: 'no such conversation' });
  ws.receive({ t: 'err', code: 'rate_limited', ref: 'ref-2', message: 'slow down' });
  assert.deepEqual(failed, [['ref-1', 'not_found']]);
  assert.deepEqual(sock.queue.map((e) => e.ref), ['ref-2']);
  await clock.advance(1000);
  assert.equal(ws.framesOfType('send').filter((f) => f.ref === 'ref-2').length, 2, 'resent once');
});

test('going offline pauses attempts and coming back online connects at once', async () => {
  const { sock, clock, connect, sockets } = setup();
  (await connect()).serverClose(1006);
  sock.setOnline(false);
  assert.equal(sock.state, 'offline');
  await clock.advance(120_000);
  assert.equal(sockets.length, 1);
  sock.setOnline(true);
  await settle();
  assert.equal(sockets.length, 2);
});

test('stop answers with a stop frame only while connected', async () => {
  const { sock, connect } = setup();
  assert.equal(sock.stopAnswer('c1'), false);
  const ws = await connect();
  assert.equal(sock.stopAnswer('c1'), true);
  assert.deepEqual(ws.framesOfType('stop'), [{ t: 'stop', cid: 'c1' }]);
});

test('a message larger than the frame limit is refused before it is queued', () => {
  const { sock } = setup({ options: { maxFrameBytes: 100 } });
  assert.throws(() => sock.send('c1', 'x'.repeat(200)), (e) => e.code === 'too_large');
  assert.equal(sock.queue.length, 0);
});

test('hello adopts a shorter heartbeat from the server', async () => {
  const { clock, connect } = setup();
  const ws = await connect();
  ws.receive({ t: 'hello', connectionId: 'k', heartbeatSec: 10, maxFrameBytes: 65536, rate: {} });
  await clock.advance(10_000);
  assert.equal(ws.framesOfType('ping').length, 1);
});

test('a handshake that never completes is abandoned and retried', async () => {
  const { sock, clock, sockets } = setup({ options: { connectTimeoutMs: 15_000 } });
  sock.start();
  await clock.advance(0);
  assert.equal(sockets.length, 1);
  await clock.advance(15_000);
  assert.equal(sockets[0].closedBy?.code, 1000);
  assert.equal(sock.state, 'reconnecting');
  await clock.advance(sock.nextRetryAt - clock.now());
  assert.equal(sockets.length, 2);
});

test('start is idempotent: one connection per instance', async () => {
  const { sock, clock, sockets } = setup();
  sock.start();
  sock.start();
  await clock.advance(0);
  sock.start();
  assert.equal(sockets.length, 1);
});

test('two tabs over one storage share the outbox; an ack in one clears it for both', async () => {
  const storage = new MemoryStorage();
  const a = setup({ storage, makeRef: () => 'ra' });
  const b = setup({ storage, makeRef: () => 'rb' });
  a.sock.send('c1', 'from a');
  b.sock.reloadQueue();
  assert.deepEqual(b.sock.queue.map((e) => e.ref), ['ra']);
  const ws = await b.connect();
  ws.receive({ t: 'ack', ref: 'ra', id: 'x', seq: 1 });
  a.sock.reloadQueue();
  assert.equal(a.sock.queue.length, 0);
});

test('network changes do not revive a socket halted by 4001', async () => {
  const { sock, connect, sockets } = setup();
  (await connect()).serverClose(4001);
  sock.setOnline(false);
  sock.setOnline(true);
  await settle();
  assert.equal(sock.state, 'unauthorized');
  assert.equal(sockets.length, 1);
});

test('a conversation the server says is gone is no longer resumed', async () => {
  const { sock, connect } = setup();
  sock.follow('gone', 3);
  sock.follow('here', 1);
  let ws = await connect();
  ws.receive({ t: 'err', code: 'not_found', cid: 'gone', message: 'no such conversation' });
  ws.serverClose(1006);
  ws = await connect();
  assert.deepEqual(ws.framesOfType('sub').map((f) => f.cid), ['here']);
});
