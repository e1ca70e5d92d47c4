// A stand-in for the server's realtime half (POST /api/realtime/ticket and GET /ws, API.md) in
// front of a real server's REST API, so the browser client can be exercised before the real
// /ws endpoint and the assistant exist. User messages are stored for real (REST, clientId =
// ref, so resends are idempotent); the "assistant" streams a canned answer with a comparison
// table and product cards and is not stored. Test tooling only: never part of the app.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

const CANNED = [
  'Here are three **iPhone cases under $30** that fit your budget:',
  '',
  '- **Spigen Ultra Hybrid**: clear, slim, drop-tested',
  '- **OtterBox Symmetry**: more grip, MagSafe compatible',
  '- **Apple Silicone Case**: soft touch, the official one',
  '',
  '| Case | Price | Rating |',
  '|:--|--:|--:|',
  '| Spigen Ultra Hybrid | $15.99 | 4.7 |',
  '| OtterBox Symmetry | $29.95 | 4.6 |',
  '| Apple Silicone Case | $24.00 | — |',
  '',
  'If you drop your phone a lot, the OtterBox is the safer pick.',
].join('\n');

const IMG = (hue) =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 160"><rect width="160" height="160" fill="hsl(${hue} 70% 92%)"/><rect x="52" y="24" width="56" height="112" rx="14" fill="hsl(${hue} 55% 45%)"/><circle cx="72" cy="44" r="7" fill="#fff" opacity=".8"/></svg>`;

export const PRODUCTS = [
  { id: 'p1', name: 'Spigen Ultra Hybrid case for iPhone 15', brand: 'Spigen', price: 15.99, rating: 4.7, reviewCount: 18234, imageUrl: '/stub-img/1.svg', url: 'https://example.com/p1' },
  { id: 'p2', name: 'OtterBox Symmetry Series with MagSafe', brand: 'OtterBox', price: 29.95, rating: 4.6, reviewCount: 5120, imageUrl: '/stub-img/2.svg', url: 'https://example.com/p2' },
  { id: 'p3', name: 'Apple Silicone Case', brand: null, price: 24, rating: null, reviewCount: null, imageUrl: null, url: null },
];

export async function startStubRealtime({ upstream, port = 0, chunkMs = 40 }) {
  const tickets = new Map(); // ticket -> token
  const subs = new Map(); // cid -> Set<ws>
  const streams = new Map(); // cid -> {id, text, timer, seq, stop()}
  let down = false;

  const call = async (token, method, path, body) => {
    const r = await fetch(upstream + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, data: r.status === 204 ? null : await r.json().catch(() => null) };
  };

  const server = http.createServer(async (req, res) => {
    if (req.url.startsWith('/stub-img/')) {
      res.writeHead(200, { 'content-type': 'image/svg+xml' });
      return res.end(IMG(req.url.includes('2') ? 200 : 20));
    }
    if (req.method === 'POST' && req.url === '/api/realtime/ticket') {
      if (down) return res.writeHead(503, { 'retry-after': '1' }).end();
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const check = await call(token, 'GET', '/api/conversations?limit=1');
      if (check.status === 401) return res.writeHead(401).end();
      const ticket = randomUUID();
      tickets.set(ticket, token);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ ticket, expiresAt: new Date(Date.now() + 30_000).toISOString() }));
    }
    // Everything else goes to the real server untouched.
    const up = http.request(upstream + req.url, { method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const ticket = new URL(req.url, 'http://x').searchParams.get('ticket');
    const token = tickets.get(ticket);
    if (down || !token) {
      socket.end(`HTTP/1.1 ${down ? 503 : 401} Refused\r\nConnection: close\r\n\r\n`);
      return;
    }
    tickets.delete(ticket); // one use
    wss.handleUpgrade(req, socket, head, (ws) => connection(ws, token));
  });

  const broadcast = (cid, frame) => {
    for (const ws of subs.get(cid) ?? []) if (ws.readyState === 1) ws.send(JSON.stringify(frame));
  };

  function connection(ws, token) {
    ws.send(JSON.stringify({ t: 'hello', connectionId: randomUUID(), heartbeatSec: 30, maxFrameBytes: 65536, rate: { perSec: 10, burst: 20 } }));
    ws.on('close', () => {
      for (const set of subs.values()) set.delete(ws);
    });
    ws.on('message', async (raw) => {
      let f;
      try {
        f = JSON.parse(String(raw));
      } catch {
        return ws.send(JSON.stringify({ t: 'err', code: 'bad_frame', message: 'not JSON' }));
      }
      if (f.t === 'ping') return ws.send(JSON.stringify({ t: 'pong', ts: f.ts }));
      if (f.t === 'sub') {
        const after = Math.floor(f.afterSeq ?? 0);
        const r = await call(token, 'GET', `/api/conversations/${f.cid}/messages?afterSeq=${after}&limit=500`);
        if (r.status !== 200) return ws.send(JSON.stringify({ t: 'err', code: 'not_found', message: 'no such conversation' }));
        if (!subs.has(f.cid)) subs.set(f.cid, new Set());
        subs.get(f.cid).add(ws);
        if (r.data.items.length) ws.send(JSON.stringify(r.data.items.map((m) => ({ t: 'msg', ...m }))));
        return;
      }
      if (f.t === 'unsub') return subs.get(f.cid)?.delete(ws);
      if (f.t === 'stop') return streams.get(f.cid)?.stop('stopped');
      if (f.t === 'send') {
        const r = await call(token, 'POST', `/api/conversations/${f.cid}/messages`, { text: f.text, clientId: f.ref });
        if (r.status === 404) return ws.send(JSON.stringify({ t: 'err', code: 'not_found', ref: f.ref, message: 'no such conversation' }));
        if (r.status >= 400) return ws.send(JSON.stringify({ t: 'err', code: 'unavailable', ref: f.ref, message: `upstream ${r.status}` }));
        const m = r.data;
        ws.send(JSON.stringify({ t: 'ack', ref: f.ref, id: m.id, seq: m.seq }));
        broadcast(f.cid, { t: 'msg', ...m });
        if (r.status === 201) answer(f.cid, m.seq);
      }
    });
  }

  function answer(cid, afterSeq) {
    streams.get(cid)?.stop('stopped');
    const id = randomUUID();
    const seq = afterSeq + 0.5; // not stored upstream, so it must not take a real seq
    const chunks = CANNED.match(/[\s\S]{1,12}/g);
    let i = 0;
    let text = '';
    const s = {
      id,
      stop(status) {
        clearInterval(s.timer);
        streams.delete(cid);
        broadcast(cid, [
          { t: 'done', cid, id, seq, status },
          { t: 'msg', id, conversationId: cid, seq, role: 'assistant', text, products: status === 'complete' ? PRODUCTS : undefined, createdAt: new Date().toISOString(), status },
        ]);
      },
    };
    streams.set(cid, s);
    s.timer = setInterval(() => {
      if (i >= chunks.length) return s.stop('complete');
      // Every third tick sends two chunks in one array: the client must unpack batches.
      const batch = i % 3 === 2 && i + 1 < chunks.length ? [chunks[i++], chunks[i++]] : [chunks[i++]];
      text += batch.join('');
      broadcast(cid, batch.length === 1 ? { t: 'delta', cid, id, text: batch[0] } : batch.map((c) => ({ t: 'delta', cid, id, text: c })));
    }, chunkMs);
  }

  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Simulates an outage: open sockets close with `code`, tickets and upgrades are refused. */
    setDown(value, code = 1012) {
      down = value;
      if (value) for (const ws of wss.clients) ws.close(code, 'server restart');
    },
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => server.close(r));
    },
  };
}
