// streamstats.mjs — a client for a streamstats server (the WebSocket protocol of docs/protocol.md),
// one ES module for browsers and Node, no build step, no dependency.
//
//   import { StreamstatsClient } from './streamstats.mjs';
//   import WebSocket from 'ws';                       // Node < 22 only; browsers have a global one
//   const c = new StreamstatsClient('ws://127.0.0.1:8080/ws', { WebSocket });
//   c.on('snapshot', (s) => console.log(s.stream, s.count, s.stats.mean));
//   c.on('alert', (a) => console.log('anomaly', a.stream, a.index, a.value, a.z));
//   c.on('gap', (g) => console.warn(`missed samples ${g.from_index}..${g.to_index - 1} of ${g.stream}`));
//   c.on('restart', (r) => console.warn(`${r.stream}: new epoch (${r.reason})`));
//   c.subscribe('cpu');
//   c.push('cpu', 0.73);  c.push('cpu', [0.7, 0.8]);  await c.flush();
//
// Reconnects by itself: exponential backoff with full jitter (retry n waits a uniform time in
// [0, min(maxMs, initialMs·factor^n)], so clients of a restarted server do not all return at once;
// the count restarts once the server has answered on a connection). After a reconnect it
// resubscribes and compares each stream's first snapshot with the last one it saw:
//   'gap'      {stream, from_index, to_index, missed}: samples [from_index, to_index) were processed
//              while this client was away; any alert among them was not delivered (the server keeps
//              no history; an alert's `index` is its sample's position, so the range bounds them);
//   'restart'  {stream, reason, previous_count, count}: the stream started a new epoch (the server
//              restarted): reason 'epoch' (an `epoch` field changed, for servers that send one),
//              'count_dropped', 'stream_gone' (unknown on resubscription: polled every
//              pollIntervalMs until a producer creates it), or 'index_backwards' (an alert's index
//              is not after the previous alert's). A 'gap' from 0 follows when the new epoch
//              already has samples this client did not see.
// Pushes are batched per stream and carry an id; unacknowledged batches are sent again after a
// reconnect, in order (at least once: a batch applied just before the connection died, whose ack
// was lost, counts twice). With the option producerId (1 to 64 printable ASCII characters, no space,
// unique per producer) every batch is numbered per stream ("producer", "seq" 1, 2, 3…:
// docs/protocol.md) and counted exactly once: a resent batch the server already has is acknowledged
// as a duplicate (stats.duplicates), and the transient refusals unavailable, rate_limited and
// out_of_order ('error' with retry: true) make the client reconnect and resend every unacknowledged
// batch in order. While disconnected at most maxBuffered samples wait; older ones are dropped and
// reported ('dropped' {stream, samples}).
// Other events: 'open' {attempt}, 'close' {code, reason, retryInMs}, 'resent' {messages, samples},
// 'error' (error replies of the server), 'message' (every server message, as parsed).

export class Backoff {
  constructor({ initialMs = 100, maxMs = 10000, factor = 2 } = {}) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.factor = factor;
  }
  ceiling(attempt) {
    return Math.min(this.maxMs, this.initialMs * this.factor ** Math.min(attempt, 64));
  }
  delay(attempt, random = Math.random) {
    return random() * this.ceiling(attempt);
  }
}

// Per-stream bookkeeping: the same rules as StreamTracker in streamstats_client.py.
export class StreamTracker {
  constructor() {
    this.count = null; // the last count seen; null: never seen
    this.epoch = undefined;
    this.lastAlertIndex = -1;
    this.resync = true; // the next snapshot is the first after a (re)subscription
  }

  #restart(stream, reason, count) {
    const ev = { type: 'restart', stream, reason, previous_count: this.count, count };
    this.count = 0;
    this.lastAlertIndex = -1;
    return [ev];
  }

  onSnapshot(stream, msg) {
    const events = [];
    const count = msg.count;
    const epoch = msg.epoch;
    if (this.count !== null) {
      if (epoch !== undefined && this.epoch !== undefined && epoch !== this.epoch) {
        events.push(...this.#restart(stream, 'epoch', count));
        this.resync = true;
      } else if (count < this.count) {
        events.push(...this.#restart(stream, 'count_dropped', count));
        this.resync = true;
      }
      // Live snapshots are coalesced, so counts jump between them by design: only the first
      // snapshot after a (re)subscription can reveal samples never seen.
      if (this.resync && count > this.count) {
        events.push({ type: 'gap', stream, from_index: this.count, to_index: count, missed: count - this.count });
      }
    }
    this.count = count;
    if (epoch !== undefined) this.epoch = epoch;
    this.resync = false;
    return events;
  }

  onAlert(stream, msg) {
    const events = [];
    const epoch = msg.epoch;
    if (epoch !== undefined && this.epoch !== undefined && epoch !== this.epoch) {
      events.push(...this.#restart(stream, 'epoch', msg.index + 1));
    } else if (msg.index <= this.lastAlertIndex) {
      events.push(...this.#restart(stream, 'index_backwards', msg.index + 1));
    }
    if (epoch !== undefined) this.epoch = epoch;
    this.lastAlertIndex = msg.index;
    if (this.count === null || this.count < msg.index + 1) this.count = msg.index + 1;
    return events;
  }

  onUnknown(stream) {
    const events = this.count ? this.#restart(stream, 'stream_gone', 0) : [];
    this.count = 0;
    this.resync = true;
    return events;
  }
}

// Refusals after which a numbered batch is resent (docs/protocol.md: the producer's rule).
const TRANSIENT = new Set(['unavailable', 'rate_limited', 'out_of_order']);

export class StreamstatsClient {
  constructor(url, options = {}) {
    const {
      WebSocket: Impl = globalThis.WebSocket,
      token,
      backoff = new Backoff(),
      pollIntervalMs = 500,
      maxBatch = 1000,
      maxInFlight = 64,
      maxBuffered = 1000000,
      random = Math.random,
      producerId,
    } = options;
    if (producerId !== undefined && !/^[\x21-\x7e]{1,64}$/.test(producerId)) {
      throw new RangeError('producerId: 1 to 64 printable ASCII characters, no space');
    }
    this.producerId = producerId;
    this.seq = new Map(); // stream -> the last batch number given
    this.resending = false; // closed on purpose to resend: keep the backoff growing
    if (!Impl) throw new Error("no WebSocket: in Node < 22 pass { WebSocket } from the 'ws' package");
    this.url = token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url;
    this.Impl = Impl;
    this.backoff = backoff instanceof Backoff ? backoff : new Backoff(backoff);
    this.pollIntervalMs = pollIntervalMs;
    this.maxBatch = maxBatch;
    this.maxInFlight = maxInFlight;
    this.maxBuffered = maxBuffered;
    this.random = random;
    this.streams = new Set();
    this.trackers = new Map();
    this.handlers = new Map();
    this.queue = []; // [{stream, values}] waiting to be sent
    this.queued = 0;
    this.unacked = new Map(); // id -> {text, n}, in send order
    this.requests = new Map(); // id -> {resolve, reject, timer}
    this.pendingSubs = new Map(); // subscribe id -> stream
    this.pollTimers = new Map(); // stream -> timer
    this.nextId = 1;
    this.attempt = 0;
    this.answered = false;
    this.closed = false;
    this.ws = null;
    this.reconnectTimer = null;
    this.stats = { sent: 0, acked: 0, resent: 0, dropped: 0, rejected: 0, duplicates: 0 };
    this.#connect();
  }

  // Adds a handler; returns the function that removes it.
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  #emit(type, ev) {
    for (const fn of this.handlers.get(type) ?? []) {
      try {
        fn(ev);
      } catch (e) {
        // A throwing handler must not leave the client half-updated: report it outside.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === 1;
  }

  subscribe(stream) {
    if (this.streams.has(stream)) return;
    this.streams.add(stream);
    if (this.connected) this.#sendSubscribe(stream);
  }

  unsubscribe(stream) {
    if (!this.streams.delete(stream)) return;
    clearTimeout(this.pollTimers.get(stream));
    this.pollTimers.delete(stream);
    if (this.connected) this.ws.send(JSON.stringify({ type: 'unsubscribe', stream }));
  }

  // Queues one sample or an array of samples for a stream; throws RangeError for NaN or ±Infinity.
  push(stream, values) {
    const vals = Array.isArray(values) ? values.map(Number) : [Number(values)];
    if (vals.length === 0) return;
    // JSON has no NaN/Infinity (JSON.stringify would send null): refuse them here, queue nothing.
    if (!vals.every(Number.isFinite)) throw new RangeError('samples must be finite numbers');
    const last = this.queue[this.queue.length - 1];
    if (last && last.stream === stream) last.values.push(...vals);
    else this.queue.push({ stream, values: vals });
    this.queued += vals.length;
    while (this.queued > this.maxBuffered) {
      const head = this.queue[0];
      const k = Math.min(head.values.length, this.queued - this.maxBuffered);
      head.values.splice(0, k);
      this.queued -= k;
      this.stats.dropped += k;
      this.#emit('dropped', { stream: head.stream, samples: k });
      if (head.values.length === 0) this.queue.shift();
    }
    this.#pump();
  }

  // Samples not yet acknowledged (queued or in flight).
  get pending() {
    let n = this.queued;
    for (const { n: k } of this.unacked.values()) n += k;
    return n;
  }

  // Resolves once every sample pushed so far is acknowledged (or refused by the server).
  flush(timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
      if (this.pending === 0) return resolve();
      const timer = setTimeout(() => {
        off();
        reject(new Error(`flush: ${this.pending} samples unacknowledged after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on('_progress', () => {
        if (this.pending === 0) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    });
  }

  // Sends a request with a fresh id; resolves with the reply that echoes it.
  request(obj, timeoutMs = 10000) {
    if (!this.connected) return Promise.reject(new Error('not connected'));
    const id = `q${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new Error(`no reply to ${JSON.stringify(obj)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.requests.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...obj, id }));
    });
  }

  close() {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const t of this.pollTimers.values()) clearTimeout(t);
    this.pollTimers.clear();
    if (this.ws) this.ws.close();
  }

  #tracker(stream) {
    if (!this.trackers.has(stream)) this.trackers.set(stream, new StreamTracker());
    return this.trackers.get(stream);
  }

  #sendSubscribe(stream) {
    const id = `s${this.nextId++}`;
    this.pendingSubs.set(id, stream);
    this.#tracker(stream).resync = true;
    this.ws.send(JSON.stringify({ type: 'subscribe', stream, id }));
  }

  #connect() {
    if (this.closed) return;
    const ws = new this.Impl(this.url);
    this.ws = ws;
    this.answered = false;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      // Every stream's next snapshot is a resync point, "*" subscriptions' included.
      for (const t of this.trackers.values()) t.resync = true;
      this.#emit('open', { attempt: this.attempt });
      for (const stream of this.streams) this.#sendSubscribe(stream);
      if (this.unacked.size > 0) {
        let n = 0;
        for (const { text, n: k } of this.unacked.values()) {
          ws.send(text);
          n += k;
        }
        this.stats.sent += n;
        this.stats.resent += n;
        this.#emit('resent', { messages: this.unacked.size, samples: n });
      }
      this.#pump();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      this.answered = true;
      this.#onMessage(JSON.parse(e.data));
    };
    ws.onerror = () => {
      /* a 'close' follows; it schedules the reconnect */
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.pendingSubs.clear();
      for (const t of this.pollTimers.values()) clearTimeout(t);
      this.pollTimers.clear();
      for (const [id, r] of this.requests) {
        clearTimeout(r.timer);
        r.reject(new Error('connection closed'));
        this.requests.delete(id);
      }
      if (this.answered && !this.resending) this.attempt = 0; // that connection worked: start the backoff over
      this.resending = false;
      const retryInMs = this.closed ? null : this.backoff.delay(this.attempt, this.random);
      this.attempt += 1;
      this.#emit('close', { code: e.code, reason: e.reason, retryInMs });
      if (!this.closed) this.reconnectTimer = setTimeout(() => this.#connect(), retryInMs);
    };
  }

  #pump() {
    while (this.connected && this.queue.length > 0 && this.unacked.size < this.maxInFlight) {
      const head = this.queue[0];
      const values = head.values.splice(0, this.maxBatch);
      this.queued -= values.length;
      if (head.values.length === 0) this.queue.shift();
      const id = `p${this.nextId++}`;
      // JSON.stringify writes the shortest round-trip form of each double: values arrive exactly.
      const msg = { stream: head.stream, values, id };
      if (this.producerId !== undefined) {
        const seq = (this.seq.get(head.stream) ?? 0) + 1;
        this.seq.set(head.stream, seq);
        msg.producer = this.producerId;
        msg.seq = seq;
      }
      const text = JSON.stringify(msg);
      this.unacked.set(id, { text, n: values.length });
      this.stats.sent += values.length;
      this.ws.send(text);
    }
  }

  #onMessage(msg) {
    this.#emit('message', msg);
    const { type, stream, id } = msg;
    if (id !== undefined && this.unacked.has(id)) {
      if (type === 'error' && this.producerId !== undefined && TRANSIENT.has(msg.code)) {
        // Kept: reconnect and resend every unacknowledged batch in order, from the first.
        this.#emit('error', { ...msg, retry: true });
        if (!this.resending && this.ws) {
          this.resending = true;
          this.ws.close(1000, 'resend');
        }
        return;
      }
      const { n } = this.unacked.get(id);
      this.unacked.delete(id);
      if (type === 'ack') {
        this.stats.acked += n;
        if (msg.duplicate) this.stats.duplicates += n;
      } else {
        this.stats.rejected += n;
        this.#emit('error', msg);
      }
      this.#pump();
      this.#emit('_progress', null);
      return;
    }
    if (id !== undefined && this.requests.has(id)) {
      const r = this.requests.get(id);
      this.requests.delete(id);
      clearTimeout(r.timer);
      r.resolve(msg);
      return;
    }
    if (id !== undefined && this.pendingSubs.has(id)) {
      const s = this.pendingSubs.get(id);
      this.pendingSubs.delete(id);
      if (type === 'error' && msg.code === 'unknown_stream' && this.streams.has(s)) {
        for (const ev of this.#tracker(s).onUnknown(s)) this.#emit(ev.type, ev);
        const ws = this.ws;
        this.pollTimers.set(
          s,
          setTimeout(() => {
            this.pollTimers.delete(s);
            if (this.ws === ws && this.connected && this.streams.has(s)) this.#sendSubscribe(s);
          }, this.pollIntervalMs),
        );
        return;
      }
      if (type === 'error') this.#emit('error', msg);
      else this.#emit(type, msg);
      return;
    }
    if (type === 'snapshot' && stream !== undefined) {
      for (const ev of this.#tracker(stream).onSnapshot(stream, msg)) this.#emit(ev.type, ev);
    } else if (type === 'alert' && stream !== undefined) {
      for (const ev of this.#tracker(stream).onAlert(stream, msg)) this.#emit(ev.type, ev);
    }
    this.#emit(type, msg);
  }
}
