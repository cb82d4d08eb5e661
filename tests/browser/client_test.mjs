// Node client test of the streamstats WebSocket adapter, through the dashboard_server example:
// JSON and binary pushes, subscriptions, snapshot numbers against an offline computation, alerts,
// and the error replies and close codes of docs/protocol.md.
//
//   node client_test.mjs --server build/dev/examples/dashboard_server
//
// The reference statistics are computed here, from their definitions, on the same samples:
//   mean      Σx/n;  stddev  sqrt(Σ(x − mean)²/(n − 1)) (two-pass, ddof = 1 like pandas .std())
//   sma       mean of the last 20 samples (pandas rolling(20).mean())
//   ema       pandas ewm(span=20, adjust=False): m₀ = x₀, m = (1 − α)m + αx, α = 2/21
//   z         (x_n − mean(prev)) / stddev(prev), prev = the 64 samples before x_n: the sample
//             scored against the baseline BEFORE it learns it (anomaly_detector<double>, a rolling
//             window of 64, in the default pipeline)
//   band      mean(last) ∓ 4.5·stddev(last), last = the 64 samples up to x_n: the detector's
//             envelope for the next sample (threshold 4.5)
// The samples are uniform on [0, 1) (|z| < 2 always), so the detector never fires on them and its
// baseline is exactly "the previous 64 samples".
import test from 'node:test';
import assert from 'node:assert/strict';
import { cliOptions, startServer, Client, binaryFrame, within } from './harness.mjs';

const opts = cliOptions();
const REL = 1e-9;

function close(actual, expected, what) {
  assert.equal(typeof actual, 'number', `${what}: expected a number, got ${JSON.stringify(actual)}`);
  const tol = REL * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} (±${tol})`);
}

// Deterministic uniform samples (a 32-bit LCG, Numerical Recipes constants).
function uniform(seed, n) {
  let s = seed >>> 0;
  const out = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(s / 4294967296);
  }
  return out;
}

function meanOf(xs) {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function sdOf(xs) {
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}
const WINDOW = 64;
const THRESHOLD = 4.5;
function reference(xs) {
  const alpha = 2 / 21;
  let ema = xs[0];
  for (const x of xs.slice(1)) ema = (1 - alpha) * ema + alpha * x;
  const sd = sdOf(xs);
  const prev = xs.slice(-WINDOW - 1, -1);
  const last = xs.slice(-WINDOW);
  return {
    count: xs.length,
    last: xs[xs.length - 1],
    mean: meanOf(xs),
    stddev: sd,
    min: Math.min(...xs),
    max: Math.max(...xs),
    sma: meanOf(xs.slice(-20)),
    ema,
    z: (xs[xs.length - 1] - meanOf(prev)) / sdOf(prev),
    band_lo: meanOf(last) - THRESHOLD * sdOf(last),
    band_hi: meanOf(last) + THRESHOLD * sdOf(last),
  };
}

function checkSnapshot(snap, xs, stream) {
  const r = reference(xs);
  assert.equal(snap.type, 'snapshot');
  assert.equal(snap.stream, stream);
  assert.equal(snap.count, r.count, 'count');
  assert.equal(snap.rejected, 0, 'rejected');
  close(snap.last, r.last, 'last');
  for (const k of ['mean', 'stddev', 'min', 'max', 'sma', 'ema', 'z', 'band_lo', 'band_hi']) {
    close(snap.stats[k], r[k], `stats.${k}`);
  }
  assert.ok(snap.stats.score >= 0 && snap.stats.score <= 1, `stats.score in [0, 1]: ${snap.stats.score}`);
}

let server;
test.before(async () => {
  // --rate 1: the synthetic feed stays quiet; this test's streams are its own.
  server = await startServer(opts.server, ['--port', '0', '--duration', '50', '--rate', '1']);
});
test.after(async () => {
  if (server) {
    const st = await server.stop();
    assert.equal(st.code, 0, `graceful exit on SIGTERM (got code ${st.code}, signal ${st.signal})`);
  }
});
const wsUrl = () => `ws://${server.host}/ws`;

test('JSON single pushes, a JSON batch and a binary frame land in one stream with exact statistics', async () => {
  const c = await Client.open(wsUrl());
  try {
    const xs = uniform(1, 120);
    // 30 fire-and-forget singles, then one single with an id (acked), a batch of 40, a binary frame of 49.
    for (const x of xs.slice(0, 30)) c.send({ stream: 'mix', value: x });
    const a1 = await c.request({ stream: 'mix', value: xs[30] });
    assert.deepEqual({ type: a1.type, stream: a1.stream, accepted: a1.accepted }, { type: 'ack', stream: 'mix', accepted: 1 });
    const a2 = await c.request({ type: 'push', stream: 'mix', values: xs.slice(31, 71) });
    assert.equal(a2.type, 'ack');
    assert.equal(a2.accepted, 40);
    c.sendBinary(binaryFrame('mix', xs.slice(71)));
    const snap = await c.request({ type: 'snapshot', stream: 'mix' });
    checkSnapshot(snap, xs, 'mix');
    // Fire-and-forget pushes got no reply: the only messages were the two acks and the snapshot.
    assert.equal(c.queue.length, 0, `unexpected replies: ${JSON.stringify(c.queue)}`);
  } finally {
    c.close();
  }
});

test('a subscriber gets an ack, an immediate snapshot, coalesced snapshots and an alert for a spike', async () => {
  const producer = await Client.open(wsUrl());
  const sub = await Client.open(wsUrl());
  try {
    const xs = uniform(7, 200);
    await producer.request({ stream: 'spiky', values: xs.slice(0, 100) });
    const ack = await sub.request({ type: 'subscribe', stream: 'spiky' });
    assert.equal(ack.type, 'subscribed');
    assert.equal(ack.stream, 'spiky');
    const first = await sub.next((m) => m.type === 'snapshot', 2000, 'the snapshot sent on subscribe');
    checkSnapshot(first, xs.slice(0, 100), 'spiky');

    // 100 more single pushes in one burst: throttled, coalesced snapshots, far fewer than 100.
    for (const x of xs.slice(100)) producer.send({ stream: 'spiky', value: x });
    const last = await sub.next((m) => m.type === 'snapshot' && m.count === 200, 3000, 'a snapshot with count 200');
    checkSnapshot(last, xs, 'spiky');
    const between = sub.queue.filter((m) => m.type === 'snapshot').length;
    assert.ok(between <= 5, `snapshots are throttled and coalesced (got ${between} extra)`);
    sub.queue.length = 0;

    // A spike far outside the baseline (uniform [0, 1): mean 0.5, sd 0.29) raises one alert at once.
    const t = 1732240000.5;
    producer.send({ stream: 'spiky', value: 50, t });
    const alert = await sub.next((m) => m.type === 'alert', 2000, 'the alert');
    const zRef = (50 - meanOf(xs.slice(-WINDOW))) / sdOf(xs.slice(-WINDOW));
    assert.equal(alert.stream, 'spiky');
    assert.equal(alert.index, 200, 'alert index = 0-based index of the sample in its stream');
    assert.equal(alert.value, 50);
    close(alert.z, zRef, 'alert z');
    assert.ok(alert.score > 0.99 && alert.score <= 1, `alert score ${alert.score}`);
    close(alert.t, t, 'alert t');
  } finally {
    producer.close();
    sub.close();
  }
});

test('subscribing to "*" covers streams created later; unsubscribe stops them; list reports streams', async () => {
  const sub = await Client.open(wsUrl());
  const producer = await Client.open(wsUrl());
  try {
    const ack = await sub.request({ type: 'subscribe', stream: '*' });
    assert.equal(ack.type, 'subscribed');
    await producer.request({ stream: 'later', values: [1, 2, 3] });
    const snap = await sub.next((m) => m.type === 'snapshot' && m.stream === 'later', 3000, 'a snapshot of the new stream');
    assert.equal(snap.count, 3);
    close(snap.stats.mean, 2, 'mean of 1, 2, 3');
    close(snap.stats.stddev, 1, 'stddev of 1, 2, 3');

    const list = await producer.request({ type: 'list' });
    assert.equal(list.type, 'streams');
    const later = list.streams.find((s) => s.name === 'later');
    assert.ok(later, `list has "later": ${JSON.stringify(list.streams)}`);
    assert.equal(later.count, 3);
    assert.equal(later.subscribers, 1, 'the "*" subscriber counts');

    const un = await sub.request({ type: 'unsubscribe', stream: '*' });
    assert.equal(un.type, 'unsubscribed');
    sub.queue.length = 0;
    await producer.request({ stream: 'later', values: [4, 5] });
    // Positive, not a timeout: a witness subscribed to another stream proves that a snapshot tick
    // has passed since "later" changed, then a round trip on sub proves that nothing was queued for
    // it before the reply (one connection's messages leave in order).
    const witness = await Client.open(wsUrl());
    try {
      await witness.request({ stream: 'witness', value: 1 });
      await witness.request({ type: 'subscribe', stream: 'witness' });
      await witness.next((m) => m.type === 'snapshot' && m.stream === 'witness', 3000, 'the immediate witness snapshot');
      await producer.request({ stream: 'witness', value: 2 });
      await witness.next((m) => m.type === 'snapshot' && m.stream === 'witness' && m.count === 2, 3000, 'a tick');
    } finally {
      witness.close();
    }
    const reply = await sub.request({ type: 'list' });
    assert.equal(reply.type, 'streams');
    assert.deepEqual(sub.queue, [], 'no snapshot after unsubscribe, before the list reply');
  } finally {
    sub.close();
    producer.close();
  }
});

test('bad inputs get the documented error codes, the connection stays open and no stream changes', async () => {
  const c = await Client.open(wsUrl());
  try {
    await c.request({ stream: 'err', values: [1, 2, 3] });
    const cases = [
      ['{"stream":"err","value":', 'malformed_json'],
      ['[1,2]', 'wrong_type'],
      ['{"stream":"err","value":"abc"}', 'wrong_type'],
      ['{"stream":5,"value":1}', 'wrong_type'],
      ['{"stream":"err","values":[1,"x"]}', 'wrong_type'],
      ['{"stream":"err"}', 'missing_field'],
      ['{"value":1}', 'missing_field'],
      ['{"stream":"err","value":1e999}', 'non_finite'],
      ['{"stream":"err","values":[1,2,-1e400]}', 'non_finite'],
      ['{"type":"subscribe","stream":"no_such_stream"}', 'unknown_stream'],
      ['{"type":"snapshot","stream":"no_such_stream"}', 'unknown_stream'],
      ['{"type":"dance","stream":"err"}', 'unknown_type'],
      ['{"stream":"","value":1}', 'invalid_stream_name'],
      [`{"stream":"${'x'.repeat(256)}","value":1}`, 'invalid_stream_name'],
      ['', 'empty_frame'],
    ];
    for (const [text, code] of cases) {
      c.send(text);
      const e = await c.next((m) => m.type === 'error', 2000, `the error for ${text.slice(0, 60)}`);
      assert.equal(e.code, code, `${text.slice(0, 60)} → ${JSON.stringify(e)}`);
      assert.equal(typeof e.message, 'string');
      assert.ok(e.message.length > 0);
    }
    // The id of a bad request is echoed in its error.
    const withId = await c.request({ stream: 'err', value: 'nope' });
    assert.equal(withId.type, 'error');
    assert.equal(withId.code, 'wrong_type');

    const binaryCases = [
      [binaryFrame('err', [1], { version: 2 }), 'bad_binary_frame'],
      [Buffer.concat([binaryFrame('err', [1]), Buffer.from([0, 0, 0])]), 'bad_binary_frame'],
      [binaryFrame('err', []), 'bad_binary_frame'],
      [Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'bad_binary_frame'],
      [Buffer.concat([Buffer.from([1, 2, 0xc3, 0x28]), Buffer.alloc(8)]), 'invalid_stream_name'],
      [Buffer.alloc(0), 'empty_frame'],
    ];
    for (const [buf, code] of binaryCases) {
      c.sendBinary(buf);
      const e = await c.next((m) => m.type === 'error', 2000, `the error for binary ${buf.subarray(0, 8).toString('hex')}`);
      assert.equal(e.code, code, `binary ${buf.subarray(0, 8).toString('hex')} → ${JSON.stringify(e)}`);
    }

    // Still open, and "err" still holds exactly 1, 2, 3; the rejections aimed at it are counted.
    const snap = await c.request({ type: 'snapshot', stream: 'err' });
    assert.equal(snap.count, 3);
    close(snap.stats.mean, 2, 'mean unchanged');
    close(snap.stats.max, 3, 'max unchanged (the 1e999 and the batch were rejected whole)');
    assert.ok(snap.rejected >= 6, `rejections on "err" are counted (${snap.rejected})`);
    const list = await c.request({ type: 'list' });
    const total = list.rejected;
    assert.ok(total >= cases.length + binaryCases.length, `global rejected count ${total}`);
  } finally {
    c.close();
  }
});

test('invalid UTF-8 in a text frame closes with 1007, an oversized frame with 1009', async () => {
  const c1 = await Client.open(wsUrl());
  c1.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
  const r1 = await within(5000, c1.waitClose(), 'close after invalid UTF-8');
  assert.equal(r1.code, 1007);

  // The oversized frame goes to a server with a 1 KiB limit and is 4 KiB long, so the server has read
  // all of it when it answers 1009. (A frame of megabytes races the close: the server closes its
  // socket while the client is still uploading, the kernel resets the connection, and the client
  // reports 1006 without ever reading the 1009 close frame — what docs/protocol.md warns about.)
  const small = await startServer(opts.server, ['--port', '0', '--duration', '30', '--rate', '1', '--max-message-size', '1024']);
  try {
    const c2 = await Client.open(`ws://${small.host}/ws`);
    c2.send({ stream: 'big', values: new Array(400).fill(0.123456789) }); // ~4.4 KB > 1 KiB
    const r2 = await within(5000, c2.waitClose(), 'close after an oversized frame');
    assert.equal(r2.code, 1009);
  } finally {
    await small.stop();
  }
});

test('with a producer token, pushing needs it (header or ?token=) and subscribing does not', async () => {
  const guarded = await startServer(opts.server, ['--port', '0', '--duration', '30', '--rate', '1', '--token', 's3cret']);
  try {
    const anon = await Client.open(`ws://${guarded.host}/ws`);
    const e = await anon.request({ stream: 'tok', value: 1 });
    assert.equal(e.type, 'error');
    assert.equal(e.code, 'unauthorized');
    const viaQuery = await Client.open(`ws://${guarded.host}/ws?token=s3cret`);
    assert.equal((await viaQuery.request({ stream: 'tok', value: 1 })).type, 'ack');
    const viaHeader = await Client.open(`ws://${guarded.host}/ws`, { headers: { Authorization: 'Bearer s3cret' } });
    assert.equal((await viaHeader.request({ stream: 'tok', value: 2 })).type, 'ack');
    const wrong = await Client.open(`ws://${guarded.host}/ws?token=nope`);
    assert.equal((await wrong.request({ stream: 'tok', value: 3 })).code, 'unauthorized');
    assert.equal((await anon.request({ type: 'subscribe', stream: 'tok' })).type, 'subscribed');
    const snap = await anon.next((m) => m.type === 'snapshot', 2000, 'the snapshot on subscribe');
    assert.equal(snap.count, 2);
    for (const c of [anon, viaQuery, viaHeader, wrong]) c.close();
  } finally {
    const st = await guarded.stop();
    assert.equal(st.code, 0);
  }
});
