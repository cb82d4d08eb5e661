// Browser test of the live dashboard: Debian's Chromium (headless) driven by playwright-core opens
// the page served by dashboard_server and checks, through the DOM and window.__dashboard, that it
// connects, that points arrive for every synthetic stream, that an anomaly the test pushes once the
// page is subscribed is drawn as a marker at the server's index for it, and that the page reconnects
// after the server restarts. Saves a screenshot (dashboard.png) into --out.
//
//   node dashboard_test.mjs --server build/dev/examples/dashboard_server --out build/dev/tests
//
// Every wait is bounded; the whole test takes ~15 s and kills what it started, even on failure.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Client, cliOptions, startServer, within } from './harness.mjs';

const opts = cliOptions();
const CHROMIUM = process.env.STREAMSTATS_CHROMIUM || '/usr/bin/chromium';
// The spike this test pushes into "cpu" once the page is subscribed (alerts are live-only, so it
// must come after the subscription): its index is the server's, read from the alert a second,
// Node client receives, and it must be past the last sample the page had seen when it subscribed.
const SPIKE = 1e4;

// Whatever happens, the test ends within 55 s (the harness kills the server on exit, and Chromium
// exits when its pipe to this process closes).
const watchdog = setTimeout(() => {
  console.error('dashboard_test: watchdog: 55 s elapsed, giving up');
  process.exit(1);
}, 55000);
watchdog.unref();
const STREAMS = ['cpu', 'latency_ms', 'requests_per_s', 'temperature'];

test('the dashboard connects, draws every stream, marks the injected anomaly and reconnects', async () => {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamstats-chromium-'));
  const serverArgs = (port) => ['--port', String(port), '--duration', '45'];
  let server;
  let context;
  const pageErrors = [];
  try {
    context = await within(
      20000,
      chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        timeout: 20000,
        viewport: { width: 1360, height: 1000 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
      'launching Chromium',
    );
    const page = context.pages()[0] || (await context.newPage());
    server = await startServer(opts.server, serverArgs(0));
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      // Chromium logs every refused WebSocket connection; those are expected while the server restarts.
      if (m.type() === 'error' && !/WebSocket connection to/.test(m.text())) pageErrors.push(m.text());
    });

    const res = await page.goto(server.url, { waitUntil: 'load' });
    assert.equal(res.status(), 200, 'the page is served over HTTP on the WebSocket port');
    assert.equal(await page.title(), 'streamstats — live dashboard');

    // 1. It connects.
    await page.waitForFunction(() => window.__dashboard && window.__dashboard.connected === true);
    assert.equal(await page.textContent('#status-text'), 'live');

    // 2. Points arrive for every stream (snapshots every 100 ms), and the counters show them.
    await page.waitForFunction(
      (names) => names.every((n) => window.__dashboard.streams[n] && window.__dashboard.streams[n].points.length >= 10),
      STREAMS,
    );
    const counters = await page.evaluate(() => ({
      streams: Number(document.getElementById('c-streams').textContent.replace(/,/g, '')),
      samples: Number(document.getElementById('c-samples').textContent.replace(/,/g, '')),
      messages: window.__dashboard.messages,
      cards: document.querySelectorAll('.card').length,
    }));
    assert.equal(counters.streams, STREAMS.length);
    assert.equal(counters.cards, STREAMS.length);
    assert.ok(counters.samples > 0, `samples counter ${counters.samples}`);
    assert.ok(counters.messages > 0);

    // 3. An anomaly pushed once the page is subscribed arrives as an alert and is drawn as a marker
    // at the index the server gave it (a Node client subscribed to cpu reads that index).
    const seenAtSubscription = await page.evaluate(() => {
      const p = window.__dashboard.streams.cpu.points;
      return p[p.length - 1].i;
    });
    const node = await Client.open(`ws://${server.host}/ws`);
    let at;
    try {
      assert.equal((await node.request({ type: 'subscribe', stream: 'cpu' })).type, 'subscribed');
      await node.request({ stream: 'cpu', value: SPIKE });
      const alert = await node.next((m) => m.type === 'alert' && m.value === SPIKE, 5000, 'the alert of the pushed spike');
      at = alert.index;
    } finally {
      node.close();
    }
    assert.ok(at > seenAtSubscription, `the spike's index ${at} comes after the page's last sample ${seenAtSubscription}`);
    await page.waitForFunction(
      (i) => {
        const s = window.__dashboard.streams.cpu;
        return s && s.alerts.some((a) => a.i === i) && s.markersDrawn >= 1;
      },
      at,
    );
    const cpu = await page.evaluate(
      (i) => {
        const s = window.__dashboard.streams.cpu;
        const a = s.alerts.find((x) => x.i === i);
        return { alert: a, mean: s.stats.mean, markers: Number(document.querySelector('.card[data-stream="cpu"]').dataset.markers), logLines: document.querySelectorAll('#alert-log li').length, alertsCounter: Number(document.getElementById('c-alerts').textContent.replace(/,/g, '')) };
      },
      at,
    );
    assert.equal(cpu.alert.v, SPIKE);
    assert.ok(cpu.alert.v > cpu.mean + 20, `the spike's value ${cpu.alert.v} is far above the mean ${cpu.mean}`);
    assert.ok(Math.abs(cpu.alert.z) > 4, `alert z ${cpu.alert.z}`);
    assert.ok(cpu.markers >= 1, 'the cpu card reports a drawn marker');
    assert.ok(cpu.logLines >= 1 && cpu.alertsCounter >= 1, 'the alert is listed and counted');

    // The band, SMA and EMA come from the snapshots (finite once the stream has a few samples).
    const last = await page.evaluate(() => {
      const p = window.__dashboard.streams.temperature.points;
      return p[p.length - 1];
    });
    for (const k of ['sma', 'ema', 'lo', 'hi']) assert.ok(Number.isFinite(last[k]), `temperature ${k} = ${last[k]}`);
    assert.ok(last.lo < last.ema && last.ema < last.hi, 'band_lo < ema < band_hi');

    // Let a couple of seconds of series accumulate for a readable screenshot.
    await page.waitForFunction(() => window.__dashboard.streams.cpu.points.length >= 40);
    const shot = path.join(opts.out, 'dashboard.png');
    fs.mkdirSync(opts.out, { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10000, 'screenshot written');

    // 4. Reconnects: stop the server (graceful), the page notices; restart on the same port.
    const port = server.port;
    const st = await server.stop();
    assert.equal(st.code, 0, 'dashboard_server exits 0 on SIGTERM');
    await page.waitForFunction(() => window.__dashboard.connected === false);
    server = await startServer(opts.server, serverArgs(port));
    await page.waitForFunction(() => window.__dashboard.connected === true && window.__dashboard.connects >= 2, null, {
      timeout: 15000,
    });
    assert.equal(await page.textContent('#status-text'), 'live');

    assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
  } finally {
    if (context) await within(10000, context.close(), 'closing Chromium').catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
    if (server) await server.stop();
  }
});
