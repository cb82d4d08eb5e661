// examples/clients/streamstats.mjs in Node (with ws) against a real server binary.
//
//   node js_client_test.mjs --server build/dev/tests/websocket/ws_test_server [--server-arg X]...
//
// Over 127.0.0.1, every wait bounded (the same scenario as tests/clients/test_python_clients.py):
//  1. round trip: push → server → subscriber; count, mean, stddev, min, max, sma, ema equal the
//     definitions computed here (rel 1e-12); the spike's alert has its exact index and value; no gap
//     and no restart on a live subscription; push(NaN) throws; a refused batch is reported, flush()
//     still resolves;
//  2. a network drop (a proxy cuts the subscriber, the server stays up): reconnect, resubscribe,
//     'gap' [300, 400) exactly, and the alert inside it was not delivered;
//  3. SIGKILL of the server and a new one on the same port: the producer reconnects and delivers
//     what was pushed while it was down; the subscriber reports 'restart' (count_dropped, 400 → 50),
//     'gap' [0, 50), then live snapshots and alerts of the new epoch;
//  4. a restart with no producer back yet: 'restart' (stream_gone), polled, then the snapshot;
//  5. the backoff: within [0, min(max, initial·2^n)], jittered;
//  6. lost acks (a proxy discards the server's replies, then cuts): the 5 unacknowledged batches
//     are resent; without a producerId the server counts them twice (110 for 60), with one exactly
//     once (60; 50 samples acknowledged as duplicates).
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Backoff, StreamstatsClient } from '../../examples/clients/streamstats.mjs';
import { EventLog, ServerProcess, checkStats, gaussian, serverAndProxy, serverCommand } from './clients_support.mjs';

const FAST = { initialMs: 50, maxMs: 500 };

function backoffRules() {
  const b = new Backoff({ initialMs: 100, maxMs: 2000 });
  for (let k = 0; k < 12; k++) {
    const cap = Math.min(2000, 100 * 2 ** k);
    const d = Array.from({ length: 200 }, () => b.delay(k));
    assert.ok(d.every((x) => x >= 0 && x <= cap), `backoff ${k} within [0, ${cap}]`);
    assert.ok(Math.max(...d) > 0.8 * cap && Math.min(...d) < 0.2 * cap, `backoff ${k} jittered`);
  }
}

async function scenario(command) {
  let { port, server, proxy } = await serverAndProxy(command);
  const producer = new StreamstatsClient(`ws://127.0.0.1:${port}/ws`, { WebSocket, backoff: FAST });
  const plog = new EventLog().attach(producer);
  let sub = null;
  try {
    // ---- 1. round trip ----
    const xs = gaussian(15, 300, 10, 2);
    xs[200] = 70; // 30 sigma: one alert, index 200
    producer.push('rt', xs[0]);
    await producer.flush(10000);
    sub = new StreamstatsClient(`ws://127.0.0.1:${proxy.port}/ws`, { WebSocket, backoff: FAST, pollIntervalMs: 100 });
    const log = new EventLog().attach(sub);
    sub.subscribe('rt');
    await log.waitFor((e) => e.type === 'snapshot' && e.count === 1, 10000, 0, 'first snapshot');
    for (let i = 1, k = 1; i < xs.length; i += k, k = (k % 37) + 1) producer.push('rt', xs.slice(i, i + k));
    await producer.flush(10000);
    assert.equal(producer.stats.acked, 300);
    let snap = await log.waitFor((e) => e.type === 'snapshot' && e.count === 300, 10000, 0, 'snapshot 300');
    checkStats(assert, snap, xs, 'round trip');
    let alert = await log.waitFor((e) => e.type === 'alert', 10000, 0, 'the alert');
    assert.ok(alert.index === 200 && alert.value === 70 && alert.z > 4.5, JSON.stringify(alert));
    assert.equal(log.of('gap').length + log.of('restart').length, 0, 'no gap or restart while live');
    // NaN cannot travel in JSON: refused at push(). A batch the server refuses (|x| > 1e60) is
    // reported and counted, not resent, and flush() resolves.
    assert.throws(() => producer.push('rt', [1, NaN]), RangeError);
    assert.equal(producer.pending, 0);
    producer.push('rt', [1, 1e61]);
    await producer.flush(10000);
    assert.deepEqual([producer.stats.rejected, producer.stats.acked], [2, 300]);
    assert.deepEqual(plog.of('error').map((e) => e.code), ['out_of_range']);
    console.log('js_client: round trip ok');

    // ---- 2. network drop, the server stays up ----
    let mark = log.events.length;
    await proxy.cut();
    await log.waitFor((e) => e.type === 'close', 10000, mark, 'close');
    const ys = gaussian(16, 100, 10, 2);
    ys[50] = 70; // index 350, pushed while the subscriber is away
    producer.push('rt', ys);
    await producer.flush(10000);
    await proxy.open();
    const gap = await log.waitFor((e) => e.type === 'gap', 10000, mark, 'the gap');
    assert.deepEqual([gap.stream, gap.from_index, gap.to_index, gap.missed], ['rt', 300, 400, 100]);
    snap = await log.waitFor((e) => e.type === 'snapshot', 10000, mark, 'snapshot after the gap');
    checkStats(assert, snap, [...xs, ...ys], 'after the gap');
    assert.equal(log.of('alert', mark).length, 0, 'the alert of index 350 was not delivered');
    assert.equal(log.of('restart', mark).length, 0, 'a network drop is not a restart');
    assert.equal(log.of('open', mark).length, 1, 'one reconnect');
    console.log('js_client: gap ok');

    // ---- 3. server restart under connected clients ----
    mark = log.events.length;
    const pmark = plog.events.length;
    await proxy.cut();
    await server.kill();
    const zs = gaussian(17, 50, -5, 1);
    zs[40] = 30;
    producer.push('rt', zs); // the server is down: buffered, delivered to the new one
    server = new ServerProcess(command, port);
    await server.start();
    await producer.flush(15000);
    assert.ok(plog.of('close', pmark).length >= 1 && plog.of('open', pmark).length >= 1, 'producer reconnected');
    await proxy.open();
    const restart = await log.waitFor((e) => e.type === 'restart', 15000, mark, 'the restart');
    assert.deepEqual([restart.reason, restart.previous_count, restart.count], ['count_dropped', 400, 50]);
    const gap2 = await log.waitFor((e) => e.type === 'gap', 5000, mark, 'the new epoch gap');
    assert.deepEqual([gap2.from_index, gap2.to_index], [0, 50]);
    snap = await log.waitFor((e) => e.type === 'snapshot', 5000, mark, 'new epoch snapshot');
    checkStats(assert, snap, zs, 'new epoch');
    const more = gaussian(18, 30, -5, 1);
    more[20] = 30; // index 70 < 350: no second restart (the tracker began a new epoch)
    producer.push('rt', more);
    await producer.flush(10000);
    alert = await log.waitFor((e) => e.type === 'alert', 10000, mark, 'the new epoch alert');
    assert.ok(alert.index === 70 && alert.value === 30, JSON.stringify(alert));
    snap = await log.waitFor((e) => e.type === 'snapshot' && e.count === 80, 10000, mark, 'snapshot 80');
    checkStats(assert, snap, [...zs, ...more], 'new epoch, live');
    assert.equal(log.of('restart', mark).length, 1, 'one restart, reported once');
    console.log('js_client: restart ok');

    // ---- 4. restart, the subscriber back before any producer ----
    mark = log.events.length;
    await server.kill();
    server = new ServerProcess(command, port);
    await server.start();
    const gone = await log.waitFor((e) => e.type === 'restart', 15000, mark, 'stream_gone');
    assert.deepEqual([gone.reason, gone.previous_count, gone.count], ['stream_gone', 80, 0]);
    producer.push('rt', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await producer.flush(15000);
    snap = await log.waitFor((e) => e.type === 'snapshot', 10000, mark, 'snapshot after stream_gone');
    assert.ok(snap.count === 10 && snap.stats.mean === 5.5, JSON.stringify(snap));
    console.log('js_client: stream_gone ok');
  } finally {
    if (sub) sub.close();
    producer.close();
    await proxy.cut();
    await server.stop();
  }
}

async function lostAcks(command) {
  const { port, server, proxy } = await serverAndProxy(command);
  const sub = new StreamstatsClient(`ws://127.0.0.1:${port}/ws`, { WebSocket, backoff: FAST, pollIntervalMs: 100 });
  const log = new EventLog().attach(sub);
  const clients = [sub];
  try {
    for (const [stream, producerId, want] of [['twice', undefined, 110], ['once', 'js-feeder-1', 60]]) {
      sub.subscribe(stream);
      const p = new StreamstatsClient(`ws://127.0.0.1:${proxy.port}/ws`, { WebSocket, backoff: FAST, maxBatch: 10, producerId });
      clients.push(p);
      p.push(stream, Array.from({ length: 10 }, (_, k) => k));
      await p.flush(10000);
      proxy.mute = true; // the acks of the next 5 batches are lost on the way
      for (let b = 0; b < 5; b++) p.push(stream, Array.from({ length: 10 }, (_, k) => 10 * b + k));
      await log.waitFor((e) => e.type === 'snapshot' && e.stream === stream && e.count === 60, 10000, 0, `${stream}: 60 at the server`);
      assert.equal(p.pending, 50, `${stream}: 50 samples unacknowledged`);
      await proxy.cut();
      proxy.mute = false;
      await proxy.open();
      await p.flush(15000);
      assert.equal(p.stats.resent, 50, `${stream}: 50 samples resent`);
      await log.waitFor((e) => e.type === 'snapshot' && e.stream === stream && e.count >= want, 10000, 0, `${stream}: ${want}`);
      await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
      const last = log.of('snapshot').filter((e) => e.stream === stream).pop();
      assert.equal(last.count, want, `${stream}: counted ${last.count}, want ${want}`);
      assert.equal(p.stats.duplicates, producerId === undefined ? 0 : 50, `${stream}: duplicates`);
      p.close();
    }
    console.log('js_client: lost acks: 110 counted without a producerId, 60 (exactly once) with one');
  } finally {
    for (const c of clients) c.close();
    await proxy.cut();
    await server.stop();
  }
}

const command = serverCommand();
backoffRules();
console.log('js_client: backoff ok');
const timer = setTimeout(() => {
  console.error('js_client: no result within 90 s');
  process.exit(1);
}, 90000);
await scenario(command);
await lostAcks(command);
clearTimeout(timer);
console.log('js_client: ok');
