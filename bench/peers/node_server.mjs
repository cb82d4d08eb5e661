// The server people write today in Node: ws, per message the running mean, a 20-sample moving
// average and the z-score against the previous 64 samples, results pushed as JSON to the stream's
// subscribers, an alert when |z| > 4.5. Same protocol subset and same statistics as py_server.py.
//
//   node bench/peers/node_server.mjs --port 9002        (prints "port N" once it listens)
//
// ws comes from tests/browser/node_modules (npm ci --prefix tests/browser), or from the directory
// named by WS_MODULE_DIR.
import { createRequire } from 'node:module';

const require = createRequire(process.env.WS_MODULE_DIR ?? new URL('../../tests/browser/package.json', import.meta.url));
const { WebSocketServer } = require('ws');

const WINDOW = 64;
const MA = 20;
const WARMUP = 30;
const THRESHOLD = 4.5;

class Stream {
  constructor(name) {
    this.name = name;
    this.count = 0;
    this.total = 0;
    this.window = []; // the last WINDOW + 1 samples
    this.result = null;
    this.subscribers = new Set();
  }

  push(x) {
    this.count += 1;
    this.total += x;
    this.window.push(x);
    if (this.window.length > WINDOW + 1) this.window.shift();
    const w = this.window;
    let s = 0;
    const m0 = Math.max(0, w.length - MA);
    for (let i = m0; i < w.length; i++) s += w[i];
    const ma = s / (w.length - m0);
    let z = null;
    const n = w.length - 1;
    if (n >= WARMUP) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += w[i];
      const mean = sum / n;
      let ss = 0;
      for (let i = 0; i < n; i++) ss += (w[i] - mean) * (w[i] - mean);
      const sd = Math.sqrt(ss / (n - 1));
      if (sd > 0) z = (x - mean) / sd;
    }
    this.result = { type: 'snapshot', stream: this.name, count: this.count, last: x, t: Date.now() / 1000, stats: { mean: this.total / this.count, sma: ma, z } };
    if (z !== null && Math.abs(z) > THRESHOLD) {
      return { type: 'alert', stream: this.name, index: this.count - 1, value: x, z, t: Date.now() / 1000 };
    }
    return null;
  }
}

const streams = new Map();
function getStream(name) {
  if (!streams.has(name)) streams.set(name, new Stream(name));
  return streams.get(name);
}

function broadcast(subs, obj) {
  const text = JSON.stringify(obj);
  for (const ws of subs) if (ws.readyState === 1) ws.send(text);
}

const args = process.argv.slice(2);
const portArg = args.indexOf('--port');
const port = portArg >= 0 ? Number(args[portArg + 1]) : 9002;
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 1 << 20 });

wss.on('connection', (ws) => {
  const subscribed = new Set();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const kind = msg.type ?? 'push';
    const { stream: name, id } = msg;
    if (kind === 'push') {
      const s = getStream(name);
      const values = msg.values ?? [msg.value];
      for (const x of values) {
        const alert = s.push(Number(x));
        broadcast(s.subscribers, s.result); // every result, one JSON message per sample
        if (alert) broadcast(s.subscribers, alert);
      }
      if (id !== undefined) ws.send(JSON.stringify({ type: 'ack', stream: name, accepted: values.length, id }));
    } else if (kind === 'subscribe') {
      const s = getStream(name);
      s.subscribers.add(ws);
      subscribed.add(s);
      ws.send(JSON.stringify(id !== undefined ? { type: 'subscribed', stream: name, id } : { type: 'subscribed', stream: name }));
      if (s.result) ws.send(JSON.stringify(s.result));
    } else if (kind === 'snapshot') {
      const s = streams.get(name);
      if (!s) {
        ws.send(JSON.stringify({ type: 'error', code: 'unknown_stream', id }));
        return;
      }
      ws.send(JSON.stringify({ ...(s.result ?? { type: 'snapshot', stream: name, count: 0 }), id }));
    }
  });
  ws.on('close', () => {
    for (const s of subscribed) s.subscribers.delete(ws);
  });
});

wss.on('listening', () => console.log(`port ${wss.address().port}`));
// Exit at once: wss.close() would wait for the open connections.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
