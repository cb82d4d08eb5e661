// examples/clients/streamstats.mjs in headless Chromium (the browser's own WebSocket, the module
// loaded as an ES module, no build step) against a real server binary:
//  1. the page pushes 300 samples with a spike and subscribes: the snapshot equals the definitions
//     computed here (rel 1e-12), the spike's alert has its exact index;
//  2. the server is killed (SIGKILL) and a new one started on the same port while the page pushes
//     50 more: the page's client reconnects, resubscribes, reports 'restart' (stream_gone: it
//     resubscribes before its buffered pushes reach the new server, on the same connection) and the
//     gap [0, 50), then the new epoch's snapshot with exact statistics.
//
//   node js_client_browser_test.mjs --server build/dev/tests/websocket/ws_test_server
// The page and the module are served by a small HTTP server of this test on 127.0.0.1 (the streamstats
// server needs no document root).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { ServerProcess, checkStats, freePort, gaussian, serverCommand } from './clients_support.mjs';

const CHROMIUM = process.env.STREAMSTATS_CHROMIUM || '/usr/bin/chromium';
const MODULE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'clients', 'streamstats.mjs');

const watchdog = setTimeout(() => {
  console.error('js_client_browser: no result within 80 s');
  process.exit(1);
}, 80000);
watchdog.unref();

// Polls the page's event list until pred matches an event at or after `start`.
async function waitFor(page, pred, timeoutMs, start, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await page.evaluate(() => window.events);
    const hit = events.slice(start).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) {
      const tail = events.slice(start).slice(-10).map((e) => (e.type === 'gap' || e.type === 'restart' ? e : e.type));
      throw new Error(`no ${what} within ${timeoutMs} ms; last events: ${JSON.stringify(tail)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const command = serverCommand();
const port = await freePort();
let server = new ServerProcess(command, port);
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamstats-chromium-'));
let context;
let http;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  await server.start();
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // The page comes from a local HTTP server: Chromium refuses a WebSocket to 127.0.0.1 from a page
  // it cannot place on the local network (a page.route() page: ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS).
  http = createServer((req, res) => {
    if (req.url === '/streamstats.mjs') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(fs.readFileSync(MODULE, 'utf8'));
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>client</title>');
    }
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  await page.goto(`http://127.0.0.1:${http.address().port}/`);

  const xs = gaussian(21, 300, 10, 2);
  xs[200] = 70;
  await page.evaluate(
    async ({ url, xs }) => {
      const { StreamstatsClient } = await import('/streamstats.mjs');
      window.events = [];
      const c = new StreamstatsClient(url, { backoff: { initialMs: 50, maxMs: 500 }, pollIntervalMs: 100 });
      window.client = c;
      for (const t of ['open', 'close', 'snapshot', 'alert', 'gap', 'restart', 'error']) c.on(t, (e) => window.events.push({ ...e, type: t }));
      c.push('br', xs[0]);
      await c.flush(10000).catch((e) => {
        throw new Error(`${e.message}; events: ${JSON.stringify(window.events)}`);
      });
      c.subscribe('br');
      for (let i = 1; i < xs.length; i += 25) c.push('br', xs.slice(i, i + 25));
      await c.flush(10000);
    },
    { url: `ws://127.0.0.1:${port}/ws`, xs },
  );
  const snap = await waitFor(page, (e) => e.type === 'snapshot' && e.count === 300, 10000, 0, 'snapshot 300');
  checkStats(assert, snap, xs, 'browser round trip');
  const alert = await waitFor(page, (e) => e.type === 'alert', 10000, 0, 'the alert');
  assert.ok(alert.index === 200 && alert.value === 70, JSON.stringify(alert));
  console.log('js_client_browser: round trip ok');

  const mark = (await page.evaluate(() => window.events.length));
  await server.kill();
  const zs = gaussian(22, 50, -5, 1);
  await page.evaluate((zs) => window.client.push('br', zs), zs); // buffered while the server is down
  server = new ServerProcess(command, port);
  await server.start();
  await page.evaluate(() => window.client.flush(15000));
  const restart = await waitFor(page, (e) => e.type === 'restart', 15000, mark, 'the restart');
  assert.deepEqual([restart.reason, restart.previous_count, restart.count], ['stream_gone', 300, 0]);
  const gap = await waitFor(page, (e) => e.type === 'gap', 10000, mark, 'the gap');
  assert.deepEqual([gap.from_index, gap.to_index], [0, 50]);
  const snap2 = await waitFor(page, (e) => e.type === 'snapshot', 10000, mark, 'the new epoch snapshot');
  checkStats(assert, snap2, zs, 'browser new epoch');
  assert.deepEqual(pageErrors, [], 'no page errors');
  await page.evaluate(() => window.client.close());
  console.log('js_client_browser: ok');
} finally {
  if (context) await context.close().catch(() => {});
  if (http) http.close();
  await server.stop();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
