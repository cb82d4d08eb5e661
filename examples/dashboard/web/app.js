// streamstats live dashboard: one WebSocket to ws://<host>/ws, plain <canvas> charts, no libraries.
//
// Protocol (docs/websocket.md): we send {"type":"list"} and {"type":"subscribe","stream":"*"}; the
// server answers with a "streams" list, then throttled "snapshot" messages per stream and an
// immediate "alert" message whenever a stream's detector flags a sample.
//
// The x axis is the sample index (snapshot "count", alert "index"), so an alert marker sits exactly
// where its sample is even though snapshots are throttled (one every ~100 ms, not one per sample).
//
// Everything the page knows is in window.__dashboard, which the browser test reads.
'use strict';

(function () {
  const MAX_POINTS = 600;       // snapshots kept per stream (~60 s at the default 100 ms throttle)
  const MAX_ALERTS = 200;       // alerts kept per stream
  const MAX_LOG = 30;           // lines in the "recent alerts" list
  const LIST_EVERY_MS = 2000;   // refresh of the stream list (subscriber counts, rejected)
  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 5000;

  const COLORS = {
    series: '#e6edf3',
    sma: '#f0b429',
    ema: '#3ddbd9',
    band: 'rgba(88, 166, 255, 0.16)',
    bandEdge: 'rgba(88, 166, 255, 0.45)',
    marker: '#ff5c5c',
    grid: 'rgba(139, 148, 158, 0.18)',
    axis: '#8b949e',
  };

  const params = new URLSearchParams(location.search);
  const wsUrl = (function () {
    if (params.get('ws')) return params.get('ws');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = params.get('token');
    return proto + '//' + location.host + '/ws' + (token ? '?token=' + encodeURIComponent(token) : '');
  })();

  const state = {
    url: wsUrl,
    connected: false,
    connects: 0,        // successful opens (1 + reconnects)
    messages: 0,        // server messages received
    snapshots: 0,
    alerts: 0,
    errors: [],         // {code, message} replies from the server
    samples: 0,         // sum of per-stream counts from the latest snapshots
    rejected: 0,        // sum of per-stream rejected counts (or the list reply's global figure)
    rate: 0,            // samples/s over the last second, all streams
    streams: {},        // name -> stream state (see ensureStream)
  };
  window.__dashboard = state;

  const el = {
    status: document.getElementById('status'),
    statusText: document.getElementById('status-text'),
    streams: document.getElementById('streams'),
    empty: document.getElementById('empty'),
    log: document.getElementById('alert-log'),
    endpoint: document.getElementById('endpoint'),
    template: document.getElementById('card-template'),
    c: {
      streams: document.getElementById('c-streams'),
      samples: document.getElementById('c-samples'),
      rate: document.getElementById('c-rate'),
      rejected: document.getElementById('c-rejected'),
      alerts: document.getElementById('c-alerts'),
      messages: document.getElementById('c-messages'),
    },
  };
  el.endpoint.textContent = wsUrl;

  // ---- formatting ------------------------------------------------------------------------------
  function fmt(x, digits) {
    if (x === null || x === undefined || !Number.isFinite(x)) return '–';
    const a = Math.abs(x);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
    return x.toFixed(digits === undefined ? 3 : digits);
  }
  function fmtInt(n) {
    return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
  }

  // ---- per-stream state and DOM ----------------------------------------------------------------
  function ensureStream(name) {
    let s = state.streams[name];
    if (s) return s;
    const node = el.template.content.firstElementChild.cloneNode(true);
    node.dataset.stream = name;
    node.querySelector('.name').textContent = name;
    s = {
      name: name,
      count: 0,
      rejected: 0,
      subscribers: 0,
      last: null,
      stats: {},
      points: [],        // {i, v, sma, ema, lo, hi}
      alerts: [],        // {i, v, z, score, t}
      markersDrawn: 0,   // alert markers inside the visible window at the last draw
      dirty: true,
      node: node,
      canvas: node.querySelector('canvas'),
      f: {
        last: node.querySelector('.last'),
        count: node.querySelector('.s-count'),
        mean: node.querySelector('.s-mean'),
        stddev: node.querySelector('.s-stddev'),
        minmax: node.querySelector('.s-minmax'),
        z: node.querySelector('.s-z'),
        score: node.querySelector('.s-score'),
        rejected: node.querySelector('.s-rejected'),
        alerts: node.querySelector('.s-alerts'),
      },
    };
    // Keep the cards sorted by name so the layout does not depend on arrival order.
    const names = Object.keys(state.streams).concat([name]).sort();
    const after = names[names.indexOf(name) + 1];
    const before = after ? state.streams[after].node : null;
    el.streams.insertBefore(node, before);
    el.empty.hidden = true;
    state.streams[name] = s;
    return s;
  }

  function num(x) {
    return typeof x === 'number' && Number.isFinite(x) ? x : null;
  }

  function onSnapshot(m) {
    const s = ensureStream(m.stream);
    const st = m.stats || {};
    s.count = num(m.count) || 0;
    s.rejected = num(m.rejected) || 0;
    s.last = num(m.last);
    s.stats = st;
    const p = {
      i: s.count - 1, // 0-based index of the last sample, as alert "index" counts
      v: s.last,
      sma: num(st.sma),
      ema: num(st.ema),
      lo: num(st.band_lo),
      hi: num(st.band_hi),
    };
    const prev = s.points[s.points.length - 1];
    if (s.count > 0 && p.v !== null && (!prev || prev.i !== p.i)) {
      if (prev && p.i < prev.i) s.points.length = 0;  // the stream was reset or the server restarted
      s.points.push(p);
      if (s.points.length > MAX_POINTS) s.points.splice(0, s.points.length - MAX_POINTS);
    }
    s.dirty = true;
    state.snapshots++;
  }

  function onAlert(m) {
    const s = ensureStream(m.stream);
    const a = { i: num(m.index), v: num(m.value), z: num(m.z), score: num(m.score), t: num(m.t) };
    s.alerts.push(a);
    if (s.alerts.length > MAX_ALERTS) s.alerts.splice(0, s.alerts.length - MAX_ALERTS);
    s.dirty = true;
    state.alerts++;
    const li = document.createElement('li');
    const when = a.t !== null ? new Date(a.t * 1000).toLocaleTimeString() : new Date().toLocaleTimeString();
    li.innerHTML = '<time></time><b></b><span></span>';
    li.children[0].textContent = when;
    li.children[1].textContent = m.stream;
    li.children[2].textContent =
      '#' + fmtInt(a.i) + '  value ' + fmt(a.v) + '  z ' + fmt(a.z, 2) + '  score ' + fmt(a.score, 4);
    el.log.insertBefore(li, el.log.firstChild);
    while (el.log.children.length > MAX_LOG) el.log.removeChild(el.log.lastChild);
  }

  function onStreams(m) {
    for (const info of m.streams || []) {
      const s = ensureStream(info.name);
      if (num(info.count) !== null) s.count = Math.max(s.count, info.count);
      if (num(info.subscribers) !== null) s.subscribers = info.subscribers;
      if (num(info.rejected) !== null) s.rejected = info.rejected;
      s.dirty = true;
    }
    if (num(m.rejected) !== null) state.globalRejected = m.rejected;
  }

  // ---- connection --------------------------------------------------------------------------------
  let ws = null;
  let backoff = RECONNECT_MIN_MS;
  let listTimer = null;

  function setStatus(kind, text) {
    el.status.dataset.state = kind;
    el.statusText.textContent = text;
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  function connect() {
    setStatus('connecting', state.connects ? 'reconnecting…' : 'connecting…');
    try {
      ws = new WebSocket(wsUrl);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws.onopen = function () {
      state.connected = true;
      state.connects++;
      backoff = RECONNECT_MIN_MS;
      setStatus('open', 'live');
      send({ type: 'list', id: 'list' });
      send({ type: 'subscribe', stream: '*', id: 'sub' });
      listTimer = setInterval(function () { send({ type: 'list' }); }, LIST_EVERY_MS);
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== 'string') return;
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      state.messages++;
      switch (m.type) {
        case 'snapshot': onSnapshot(m); break;
        case 'alert': onAlert(m); break;
        case 'streams': onStreams(m); break;
        case 'error':
          state.errors.push({ code: m.code, message: m.message });
          if (state.errors.length > 50) state.errors.shift();
          break;
        default: break;  // subscribed / unsubscribed / ack
      }
    };
    ws.onclose = function () {
      const was = state.connected;
      state.connected = false;
      clearInterval(listTimer);
      listTimer = null;
      setStatus('closed', was ? 'disconnected — retrying' : 'server unreachable — retrying');
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows and reconnects */ };
  }

  function scheduleReconnect() {
    const wait = backoff;
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    setTimeout(connect, wait);
  }

  // ---- drawing -----------------------------------------------------------------------------------
  function draw(s) {
    const c = s.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, Math.floor(c.clientWidth || 600));
    const h = Math.max(120, Math.floor(c.clientHeight || 220));
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    const pts = s.points;
    const pad = { l: 56, r: 10, t: 10, b: 22 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    if (pts.length < 2) {
      g.fillStyle = COLORS.axis;
      g.font = '12px system-ui, sans-serif';
      g.fillText('waiting for data…', pad.l + 8, pad.t + 20);
      s.markersDrawn = 0;
      return;
    }

    const i0 = pts[0].i;
    const i1 = pts[pts.length - 1].i;
    const visibleAlerts = s.alerts.filter(function (a) { return a.i !== null && a.i >= i0 && a.i <= i1; });

    // y range: the series, the averages, the band and the alert values, with 6% headroom.
    let lo = Infinity;
    let hi = -Infinity;
    function take(v) {
      if (v !== null && Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    for (const p of pts) {
      take(p.v); take(p.sma); take(p.ema); take(p.lo); take(p.hi);
    }
    for (const a of visibleAlerts) take(a.v);
    if (!(hi > lo)) {
      hi = lo + 1;
      lo = lo - 1;
    }
    const headroom = (hi - lo) * 0.06;
    lo -= headroom;
    hi += headroom;

    const X = function (i) { return pad.l + ((i - i0) / Math.max(1, i1 - i0)) * pw; };
    const Y = function (v) { return pad.t + (1 - (v - lo) / (hi - lo)) * ph; };

    // grid and y labels
    g.strokeStyle = COLORS.grid;
    g.fillStyle = COLORS.axis;
    g.lineWidth = 1;
    g.font = '11px ui-monospace, SFMono-Regular, Menlo, monospace';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let k = 0; k <= 4; k++) {
      const v = lo + ((hi - lo) * k) / 4;
      const y = Math.round(Y(v)) + 0.5;
      g.beginPath();
      g.moveTo(pad.l, y);
      g.lineTo(w - pad.r, y);
      g.stroke();
      g.fillText(fmt(v, 2), pad.l - 6, y);
    }
    g.textAlign = 'left';
    g.textBaseline = 'alphabetic';
    g.fillText('#' + fmtInt(i0), pad.l, h - 6);
    g.textAlign = 'right';
    g.fillText('#' + fmtInt(i1), w - pad.r, h - 6);

    // ±kσ band: filled polygon over the stretches where both edges are known
    g.fillStyle = COLORS.band;
    g.strokeStyle = COLORS.bandEdge;
    let run = [];
    function flushBand() {
      if (run.length >= 2) {
        g.beginPath();
        g.moveTo(X(run[0].i), Y(run[0].hi));
        for (const p of run) g.lineTo(X(p.i), Y(p.hi));
        for (let k = run.length - 1; k >= 0; k--) g.lineTo(X(run[k].i), Y(run[k].lo));
        g.closePath();
        g.fill();
      }
      run = [];
    }
    for (const p of pts) {
      if (p.lo !== null && p.hi !== null) run.push(p);
      else flushBand();
    }
    flushBand();

    function line(key, color, width, dash) {
      g.strokeStyle = color;
      g.lineWidth = width;
      g.setLineDash(dash || []);
      g.beginPath();
      let pen = false;
      for (const p of pts) {
        const v = p[key];
        if (v === null) {
          pen = false;
          continue;
        }
        if (pen) g.lineTo(X(p.i), Y(v));
        else g.moveTo(X(p.i), Y(v));
        pen = true;
      }
      g.stroke();
      g.setLineDash([]);
    }
    line('v', COLORS.series, 1.2);
    line('sma', COLORS.sma, 1.6, [5, 3]);
    line('ema', COLORS.ema, 1.6);

    // anomaly markers: a ring at (index, value) and a faint vertical rule
    for (const a of visibleAlerts) {
      const x = X(a.i);
      const y = a.v !== null ? Y(a.v) : pad.t + 8;
      g.strokeStyle = 'rgba(255, 92, 92, 0.35)';
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(Math.round(x) + 0.5, pad.t);
      g.lineTo(Math.round(x) + 0.5, pad.t + ph);
      g.stroke();
      g.fillStyle = COLORS.marker;
      g.strokeStyle = '#0d1117';
      g.lineWidth = 1.5;
      g.beginPath();
      g.arc(x, Math.min(Math.max(y, pad.t + 5), pad.t + ph - 5), 5, 0, Math.PI * 2);
      g.fill();
      g.stroke();
    }
    s.markersDrawn = visibleAlerts.length;
  }

  function renderStream(s) {
    const st = s.stats || {};
    s.f.last.textContent = fmt(s.last);
    s.f.count.textContent = fmtInt(s.count);
    s.f.mean.textContent = fmt(num(st.mean));
    s.f.stddev.textContent = fmt(num(st.stddev));
    s.f.minmax.textContent = fmt(num(st.min), 2) + ' / ' + fmt(num(st.max), 2);
    s.f.z.textContent = fmt(num(st.z), 2);
    s.f.score.textContent = fmt(num(st.score), 3);
    s.f.rejected.textContent = fmtInt(s.rejected);
    s.f.alerts.textContent = fmtInt(s.alerts.length);
    s.node.classList.toggle('hot', num(st.z) !== null && Math.abs(st.z) >= 3);
    s.node.dataset.markers = String(s.markersDrawn);
    draw(s);
    s.node.dataset.markers = String(s.markersDrawn);
    s.dirty = false;
  }

  // samples/s over a sliding one-second window
  const rateWindow = [];

  function frame() {
    let samples = 0;
    let rejected = 0;
    const names = Object.keys(state.streams);
    for (const name of names) {
      const s = state.streams[name];
      samples += s.count;
      rejected += s.rejected;
      if (s.dirty) renderStream(s);
    }
    state.samples = samples;
    state.rejected = Math.max(rejected, state.globalRejected || 0);
    const now = performance.now();
    rateWindow.push({ t: now, n: samples });
    while (rateWindow.length > 2 && now - rateWindow[0].t > 1000) rateWindow.shift();
    const first = rateWindow[0];
    state.rate = now > first.t ? ((samples - first.n) * 1000) / (now - first.t) : 0;

    el.c.streams.textContent = fmtInt(names.length);
    el.c.samples.textContent = fmtInt(state.samples);
    el.c.rate.textContent = fmtInt(Math.max(0, state.rate));
    el.c.rejected.textContent = fmtInt(state.rejected);
    el.c.alerts.textContent = fmtInt(state.alerts);
    el.c.messages.textContent = fmtInt(state.messages);
    requestAnimationFrame(frame);
  }

  window.addEventListener('resize', function () {
    for (const name of Object.keys(state.streams)) state.streams[name].dirty = true;
  });

  connect();
  requestAnimationFrame(frame);
})();
