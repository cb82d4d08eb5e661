// Plumbing for the tests of examples/clients/streamstats.mjs: a server process on a fixed 127.0.0.1
// port that can be killed and started again on the same port, a TCP proxy whose connections can be
// cut (a network drop while the server stays up), an event log with bounded waits, and the
// reference statistics computed from their definitions.
import { spawn } from 'node:child_process';
import net from 'node:net';

// --server PATH, --server-arg X (repeatable; the test appends --port N itself).
export function serverCommand(argv = process.argv.slice(2)) {
  const cmd = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--server') cmd.unshift(argv[++i]);
    else if (argv[i] === '--server-arg') cmd.push(argv[++i]);
  }
  if (cmd.length === 0 || !cmd[0]) throw new Error('usage: --server PATH [--server-arg X]...');
  return cmd;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const live = new Set();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export class ServerProcess {
  constructor(command, port) {
    this.command = [...command, '--port', String(port)];
    this.port = port;
    this.proc = null;
  }

  async start(timeoutMs = 15000) {
    // stdin stays an open pipe: ws_test_server stops when it reaches EOF.
    this.proc = spawn(this.command[0], this.command.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    live.add(this.proc);
    let stderr = '';
    this.proc.stderr.on('data', (d) => (stderr += d));
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => {
        live.delete(this.proc);
        resolve({ code, signal });
      }),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`server exited with ${this.proc.exitCode}: ${stderr}`);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`server not listening on ${this.port} within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // SIGKILL: no final snapshot, no close frame; clients see the connection reset.
  async kill() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export class Proxy {
  constructor(upstream) {
    this.upstream = upstream;
    this.port = 0;
    this.server = null;
    this.sockets = new Set();
    this.mute = false;
  }

  open() {
    return new Promise((resolve, reject) => {
      this.server = net.createServer((c) => {
        const u = net.connect(this.upstream, '127.0.0.1');
        this.sockets.add(c).add(u);
        const drop = () => {
          c.destroy();
          u.destroy();
          this.sockets.delete(c);
          this.sockets.delete(u);
        };
        c.on('error', drop).on('close', drop);
        u.on('error', drop).on('close', drop);
        c.pipe(u);
        // While mute, the server's bytes are read and discarded: its replies are lost on the way.
        u.on('data', (d) => {
          if (!this.mute) c.write(d);
        });
      });
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  // Drops every connection (a reset) and refuses new ones until open().
  cut() {
    for (const s of this.sockets) s.resetAndDestroy ? s.resetAndDestroy() : s.destroy();
    this.sockets.clear();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export class EventLog {
  constructor() {
    this.events = [];
    this.waiters = new Set();
  }

  // Records every event type of a StreamstatsClient.
  attach(client, types = ['open', 'close', 'snapshot', 'alert', 'gap', 'restart', 'error', 'subscribed', 'resent']) {
    for (const t of types) client.on(t, (ev) => this.add({ ...ev, type: t }));
    return this;
  }

  add(ev) {
    this.events.push(ev);
    for (const w of this.waiters) w();
  }

  of(type, start = 0) {
    return this.events.slice(start).filter((e) => e.type === type);
  }

  waitFor(pred, timeoutMs, start = 0, what = 'an event') {
    return new Promise((resolve, reject) => {
      let i = start;
      const check = () => {
        for (; i < this.events.length; i++) {
          if (pred(this.events[i])) {
            done();
            resolve(this.events[i]);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        const tail = this.events.slice(start).slice(-12).map((e) => (e.type === 'gap' || e.type === 'restart' ? e : e.type));
        reject(new Error(`no ${what} within ${timeoutMs} ms; last events: ${JSON.stringify(tail)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

// Seeded Gaussian samples (a 32-bit LCG, Numerical Recipes constants, then Box-Muller).
export function gaussian(seed, n, mu, sigma) {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  const out = [];
  for (let i = 0; i < n; i++) out.push(mu + sigma * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  return out;
}

// The default pipeline's statistics from their definitions (two-pass stddev, ddof = 1; sma of the
// last 20; ema span 20 as pandas ewm(adjust=False)).
export function reference(xs) {
  const mean = (a) => a.reduce((p, x) => p + x, 0) / a.length;
  const m = mean(xs);
  const sd = Math.sqrt(xs.reduce((p, x) => p + (x - m) * (x - m), 0) / (xs.length - 1));
  const alpha = 2 / 21;
  let ema = xs[0];
  for (const x of xs.slice(1)) ema = (1 - alpha) * ema + alpha * x;
  return { count: xs.length, last: xs[xs.length - 1], mean: m, stddev: sd, min: Math.min(...xs), max: Math.max(...xs), sma: mean(xs.slice(-20)), ema };
}

export function checkStats(assert, snap, xs, what) {
  const r = reference(xs);
  assert.equal(snap.count, r.count, `${what}: count`);
  assert.equal(snap.last, r.last, `${what}: last`);
  for (const k of ['mean', 'stddev', 'min', 'max', 'sma', 'ema']) {
    const got = snap.stats[k];
    const tol = 1e-12 * Math.max(1, Math.abs(r[k]));
    assert.ok(typeof got === 'number' && Math.abs(got - r[k]) <= tol, `${what}: ${k} ${got} vs ${r[k]}`);
  }
}

// Starts the server on a free port and an open Proxy in front of it: { port, server, proxy }.
export async function serverAndProxy(command) {
  const port = await freePort();
  const server = new ServerProcess(command, port);
  await server.start();
  const proxy = new Proxy(port);
  await proxy.open();
  return { port, server, proxy };
}
