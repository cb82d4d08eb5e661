// Shared by the Node client test and the browser test: start dashboard_server on an ephemeral port,
// talk the streamstats WebSocket protocol, and never leave a process behind.
import { spawn } from 'node:child_process';
import WebSocket from 'ws';

// Parses --server PATH (or STREAMSTATS_DASHBOARD_SERVER) and --out DIR from argv.
export function cliOptions() {
  const args = process.argv.slice(2);
  const get = (flag, env) => {
    const i = args.indexOf(flag);
    if (i >= 0 && i + 1 < args.length) return args[i + 1];
    return env ? process.env[env] : undefined;
  };
  return {
    server: get('--server', 'STREAMSTATS_DASHBOARD_SERVER'),
    out: get('--out', 'STREAMSTATS_TEST_OUT') || process.cwd(),
  };
}

const live = new Set();
function killAll() {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

// Starts the server binary with `args`; resolves once it printed "listening on http://HOST:PORT/".
export function startServer(binary, args, { timeoutMs = 15000 } = {}) {
  if (!binary) throw new Error('no server binary: pass --server PATH or set STREAMSTATS_DASHBOARD_SERVER');
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d.toString();
  });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  const ready = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not print its URL within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /^listening on (http:\/\/([^/]+)\/)\n/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], host: m[2], port: Number(m[2].split(':').pop()) });
      }
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal}); stderr:\n${stderr}`));
    });
  });
  return ready.then((info) => ({
    ...info,
    proc,
    exited,
    stderr: () => stderr,
    // SIGTERM (graceful), then SIGKILL after graceMs; resolves with the exit status.
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const st = await exited;
      clearTimeout(t);
      return st;
    },
  }));
}

// A protocol client: every server message is queued; next(pred) takes the first one that matches.
export class Client {
  static open(url, { timeoutMs = 5000, headers } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const t = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no WebSocket open on ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(t);
        resolve(new Client(ws));
      });
      ws.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    this.nextId = 1;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.queue.push(JSON.parse(data.toString()));
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
  }

  #wake() {
    for (const w of [...this.waiters]) w();
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  sendBinary(buf) {
    this.ws.send(buf, { binary: true });
  }

  // Resolves with (and removes) the first queued message for which pred(m) is true.
  next(pred, timeoutMs = 5000, what = 'a matching message') {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.queue.findIndex(pred);
        if (i >= 0) {
          done();
          resolve(this.queue.splice(i, 1)[0]);
        } else if (this.closed) {
          done();
          reject(new Error(`connection closed (${this.closed.code}) while waiting for ${what}`));
        }
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${what}; queued: ${JSON.stringify(this.queue.slice(-5))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  // Sends obj with a fresh "id" and resolves with the reply that echoes it.
  request(obj, timeoutMs = 5000) {
    const id = `r${this.nextId++}`;
    this.send({ ...obj, id });
    return this.next((m) => m.id === id, timeoutMs, `the reply to ${JSON.stringify(obj)}`);
  }

  waitClose(timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve(this.closed);
      const t = setTimeout(() => reject(new Error('the server did not close the connection')), timeoutMs);
      this.ws.once('close', (code, reason) => {
        clearTimeout(t);
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

// Binary push frame: 0x01, name length, UTF-8 name, little-endian float64 samples.
export function binaryFrame(stream, values, { version = 1 } = {}) {
  const name = Buffer.from(stream, 'utf8');
  const buf = Buffer.alloc(2 + name.length + 8 * values.length);
  buf[0] = version;
  buf[1] = name.length;
  name.copy(buf, 2);
  values.forEach((v, i) => buf.writeDoubleLE(v, 2 + name.length + 8 * i));
  return buf;
}

// Bounds a whole promise (a test step) in time.
export function within(ms, promise, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}
