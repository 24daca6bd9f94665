// marketpipe live chart: candles + volume, EMA and Bollinger overlays, RSI and MACD panes, buy/sell
// markers of one strategy, live from /api/stream (Server-Sent Events), and a health panel from
// /api/health. lightweight-charts v5 (standalone build: window.LightweightCharts); one chart with
// three panes, so every pane shares the time axis. Times are UTC epoch seconds.
"use strict";

(() => {
  const LC = window.LightweightCharts;
  const $ = (id) => document.getElementById(id);
  const HEALTH_EVERY_MS = 5000;
  const RETRY_MS = 5000;
  const SYMBOLS_EVERY_MS = 30000;
  const BARS_LIMIT = 1000;
  const RECENT_BARS = 20; // the stream re-reads this many newest bars (marketpipe.chart.stream)
  const UP = "#26a69a";
  const DOWN = "#ef5350";

  const state = {
    symbol: "",
    timeframe: "1m",
    strategy: "",
    bars: [],                 // oldest first, as /api/bars returns them
    signals: new Map(),       // "time|strategy" -> signal (buy/sell only)
    source: null,             // the EventSource of the stream
    loadSeq: 0,               // a newer load makes older responses stale
  };

  // --- the chart -------------------------------------------------------------------------------
  if (!LC) {
    showMessage("lightweight-charts is missing: run `make chart-vendor`");
    return;
  }
  const chart = LC.createChart($("chart"), {
    autoSize: true,
    layout: {
      background: { type: "solid", color: "#0f1419" },
      textColor: "#c9d1d9",
      panes: { separatorColor: "#30363d", enableResize: true },
    },
    grid: { vertLines: { color: "#1c2128" }, horzLines: { color: "#1c2128" } },
    rightPriceScale: { borderColor: "#30363d" },
    timeScale: { borderColor: "#30363d", timeVisible: true, secondsVisible: false },
    crosshair: { mode: LC.CrosshairMode.Normal },
  });
  const line = (color, extra = {}) => ({
    color, lineWidth: 1, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false,
    ...extra,
  });
  const series = {
    candles: chart.addSeries(LC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
    }, 0),
    volume: chart.addSeries(LC.HistogramSeries, {
      priceScaleId: "volume", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false,
    }, 0),
    ema12: chart.addSeries(LC.LineSeries, line("#f0b429"), 0),
    ema26: chart.addSeries(LC.LineSeries, line("#7aa2f7"), 0),
    bbUpper: chart.addSeries(LC.LineSeries, line("#9d7cd8", { lineStyle: LC.LineStyle.Dashed }), 0),
    bbMiddle: chart.addSeries(LC.LineSeries, line("#9d7cd8", { lineStyle: LC.LineStyle.Dotted }), 0),
    bbLower: chart.addSeries(LC.LineSeries, line("#9d7cd8", { lineStyle: LC.LineStyle.Dashed }), 0),
    rsi: chart.addSeries(LC.LineSeries, line("#e0af68", { lastValueVisible: true, title: "RSI 14" }), 1),
    macdHist: chart.addSeries(LC.HistogramSeries, { priceLineVisible: false, lastValueVisible: false }, 2),
    macd: chart.addSeries(LC.LineSeries, line("#7aa2f7", { title: "MACD" }), 2),
    macdSignal: chart.addSeries(LC.LineSeries, line("#f7768e", { title: "signal" }), 2),
  };
  series.volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  for (const level of [70, 30]) {
    series.rsi.createPriceLine({ price: level, color: "#8b949e", lineWidth: 1, lineStyle: LC.LineStyle.Dotted,
                                 axisLabelVisible: true, title: "" });
  }
  chart.panes()[0].setStretchFactor(3);
  chart.panes()[1].setStretchFactor(1);
  chart.panes()[2].setStretchFactor(1);
  const markers = LC.createSeriesMarkers(series.candles, []);

  // One bar of /api/bars -> the point of each series (whitespace where an indicator is warming up).
  const value = (b, key) => (b[key] == null ? { time: b.time } : { time: b.time, value: b[key] });
  const points = {
    candles: (b) => ({ time: b.time, open: b.open, high: b.high, low: b.low, close: b.close }),
    volume: (b) => ({ time: b.time, value: b.volume, color: b.close >= b.open ? "#26a69a80" : "#ef535080" }),
    ema12: (b) => value(b, "ema_12"),
    ema26: (b) => value(b, "ema_26"),
    bbUpper: (b) => value(b, "bb_upper"),
    bbMiddle: (b) => value(b, "bb_middle"),
    bbLower: (b) => value(b, "bb_lower"),
    rsi: (b) => value(b, "rsi_14"),
    macdHist: (b) => (b.macd_hist == null ? { time: b.time }
      : { time: b.time, value: b.macd_hist, color: b.macd_hist >= 0 ? "#26a69a99" : "#ef535099" }),
    macd: (b) => value(b, "macd"),
    macdSignal: (b) => value(b, "macd_signal"),
  };

  function setAllBars() {
    for (const [name, s] of Object.entries(series)) s.setData(state.bars.map(points[name]));
    renderMarkers();
    updateCounts();
  }

  // New or revised bars from the stream (oldest first). A bar at or after the last one is an update in
  // place, a revised older bar a historical update; a new bar between two others means a redraw.
  function applyBars(incoming) {
    const index = new Map(state.bars.map((b, i) => [b.time, i]));
    const changed = incoming.filter((b) => !index.has(b.time)
      || JSON.stringify(state.bars[index.get(b.time)]) !== JSON.stringify(b));
    const lastTime = () => (state.bars.length ? state.bars[state.bars.length - 1].time : -Infinity);
    if (changed.some((b) => !index.has(b.time) && b.time < lastTime())) {
      for (const b of changed) {
        if (index.has(b.time)) state.bars[index.get(b.time)] = b;
        else state.bars.push(b);
      }
      state.bars.sort((a, b) => a.time - b.time);
      setAllBars();
    } else {
      for (const b of changed) {
        const historical = b.time < lastTime();
        for (const [name, s] of Object.entries(series)) s.update(points[name](b), historical);
        if (index.has(b.time)) state.bars[index.get(b.time)] = b;
        else index.set(b.time, state.bars.push(b) - 1);
      }
      renderMarkers();
      updateCounts();
    }
    if (state.bars.length) hideMessage();
  }

  // --- markers ---------------------------------------------------------------------------------
  function applySignals(list) {
    for (const s of list) {
      const key = `${s.time}|${s.strategy}`;
      if (s.action === "buy" || s.action === "sell") state.signals.set(key, s);
      else state.signals.delete(key); // a revised bar turned it into a hold
    }
    refreshStrategies();
    renderMarkers();
    updateCounts();
  }

  function renderMarkers() {
    const times = new Set(state.bars.map((b) => b.time));
    const list = [...state.signals.values()]
      .filter((s) => s.strategy === state.strategy && times.has(s.time))
      .sort((a, b) => a.time - b.time)
      .map((s) => (s.action === "buy"
        ? { time: s.time, position: "belowBar", color: UP, shape: "arrowUp", text: "buy" }
        : { time: s.time, position: "aboveBar", color: DOWN, shape: "arrowDown", text: "sell" }));
    markers.setMarkers(list);
  }

  function refreshStrategies(present) {
    const names = new Set(present || []);
    for (const s of state.signals.values()) names.add(s.strategy);
    const sorted = [...names].sort();
    if (!sorted.includes(state.strategy)) state.strategy = sorted[0] || "";
    fillSelect($("strategy"), sorted.length ? sorted : [""], state.strategy, (n) => n || "(no signals)");
  }

  function updateCounts() {
    $("chart").dataset.candles = String(series.candles.data().length);
    $("chart").dataset.markers = String(markers.markers().length);
  }

  // --- loading and the stream ------------------------------------------------------------------
  async function getJSON(url) {
    const resp = await fetch(url, { cache: "no-store" });
    const body = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) throw Object.assign(new Error(body.error || `HTTP ${resp.status}`), { status: resp.status });
    return body;
  }

  function query(params) {
    return new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString();
  }

  async function load() {
    const seq = ++state.loadSeq;
    if (state.source) state.source.close();
    state.source = null;
    state.bars = [];
    state.signals = new Map();
    setAllBars();
    setStatus("loading…", "");
    history.replaceState(null, "", `?${query({ symbol: state.symbol, timeframe: state.timeframe, strategy: state.strategy })}`);
    const base = { symbol: state.symbol, timeframe: state.timeframe };
    try {
      const bars = await getJSON(`/api/bars?${query({ ...base, limit: BARS_LIMIT })}`).catch((e) => {
        if (e.status === 404) return { bars: [] };
        throw e;
      });
      // the signals of the bars on the chart (all strategies: the picker only filters)
      const since = bars.bars.length ? bars.bars[0].time : "";
      const signals = await getJSON(`/api/signals?${query({ ...base, since })}`);
      if (seq !== state.loadSeq) return;
      state.bars = bars.bars;
      for (const s of signals.signals) state.signals.set(`${s.time}|${s.strategy}`, s);
      refreshStrategies(signals.strategies);
      setAllBars();
      chart.timeScale().fitContent();
      if (state.bars.length) hideMessage();
      else showMessage(`no ${state.timeframe} bars of ${state.symbol} yet: waiting for the stream`);
    } catch (e) {
      if (seq !== state.loadSeq) return;
      showMessage(`cannot load ${state.symbol} ${state.timeframe}: ${e.message}`);
    }
    openStream(seq);
  }

  function openStream(seq) {
    if (seq !== state.loadSeq || !state.symbol) return;
    const n = state.bars.length;
    const since = n ? state.bars[Math.max(0, n - RECENT_BARS)].time : "";
    const source = new EventSource(`/api/stream?${query({ symbol: state.symbol, timeframe: state.timeframe, since })}`);
    state.source = source;
    source.onopen = () => setStatus("live", "live");
    source.onerror = () => setStatus("stream interrupted: reconnecting…", "down");
    source.addEventListener("bars", (ev) => applyBars(JSON.parse(ev.data).bars));
    source.addEventListener("signals", (ev) => applySignals(JSON.parse(ev.data).signals));
    source.addEventListener("status", (ev) => {
      const s = JSON.parse(ev.data);
      if (s.postgres === "unreachable") setStatus("PostgreSQL unreachable: retrying…", "down");
      else setStatus("live", "live");
    });
  }

  function setStatus(text, cls) {
    $("status").textContent = text;
    $("status").className = `status ${cls}`;
  }

  function showMessage(text) {
    $("message").textContent = text;
    $("message").hidden = false;
  }

  function hideMessage() {
    $("message").hidden = true;
  }

  function fillSelect(select, values, selected, label = (v) => v) {
    select.replaceChildren(...values.map((v) => {
      const option = new Option(label(v), v);
      option.selected = v === selected;
      return option;
    }));
  }

  // --- the health panel ------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...children.map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
    return node;
  }

  function table(headers, rows) {
    return el("table", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h))),
      ...rows.map((cells) => el("tr", {}, ...cells.map((c) => (c instanceof Node ? c : el("td", {}, c))))));
  }

  const num = (v, digits = 0) => el("td", { class: "num" }, v == null ? "–" : Number(v).toFixed(digits));
  const utc = (s) => new Date(s * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");

  function renderHealth(h) {
    const body = [];
    if (!h.prometheus.reachable) {
      body.push(el("p", { class: "bad", id: "prometheus-unreachable" },
        `Prometheus unreachable at ${h.prometheus.url}: ${h.prometheus.error}`));
      body.push(el("p", { class: "muted" }, "Start it with `marketpipe stack up` (monitoring on)."));
      $("health-body").replaceChildren(...body);
      return;
    }
    const alerts = h.alerts_firing || [];
    body.push(el("h3", {}, "Alerts firing"));
    body.push(alerts.length
      ? table(["alert", "severity", "summary"], alerts.map((a) => [a.alertname, a.severity, a.summary]))
      : el("p", { class: "ok" }, "none"));
    body.push(el("h3", {}, "Consumer lag"));
    body.push(section(h, "consumer_lag", (rows) => table(["group", "topic", "part.", "lag"],
      rows.map((r) => [r.group, r.topic, r.partition, num(r.lag)]))));
    body.push(el("h3", {}, "Dead letters by reason"));
    body.push(section(h, "dead_letters", (rows) => table(["reason", "stage", "count"],
      rows.map((r) => [r.reason, r.stage, num(r.count)]))));
    body.push(el("h3", {}, "Last bar per symbol"));
    body.push(section(h, "last_bar", (rows) => table(["symbol", "bar end (UTC)", "age s"],
      rows.map((r) => [r.symbol, r.bar_end == null ? "–" : utc(r.bar_end), num(h.now - r.bar_end)]))));
    body.push(el("p", { class: "muted" }, `from ${h.prometheus.url} at ${utc(h.now)}`));
    $("health-body").replaceChildren(...body);
  }

  function section(h, name, render) {
    if (h.errors && h.errors[name]) return el("p", { class: "warn" }, `query failed: ${h.errors[name]}`);
    const rows = h[name] || [];
    return rows.length ? render(rows) : el("p", { class: "muted" }, "no series");
  }

  async function refreshHealth() {
    try {
      renderHealth(await getJSON("/api/health"));
    } catch (e) {
      $("health-body").replaceChildren(el("p", { class: "bad" }, `chart server unreachable: ${e.message}`));
    }
  }

  // --- start -----------------------------------------------------------------------------------
  async function start() {
    const wanted = new URLSearchParams(location.search);
    let listing;
    try {
      listing = await getJSON("/api/symbols");
    } catch (e) {
      showMessage(`cannot list symbols: ${e.message} (retrying)`);
      setStatus("PostgreSQL unreachable", "down");
      setTimeout(start, RETRY_MS);
      return;
    }
    hideMessage();
    const symbols = listing.symbols.map((s) => s.symbol);
    if (wanted.get("symbol") && !symbols.includes(wanted.get("symbol"))) symbols.push(wanted.get("symbol"));
    if (!symbols.length) {
      showMessage("no bars in PostgreSQL yet: start the pipeline (make demo); checking again every few seconds");
      setStatus("no data", "");
      setTimeout(start, RETRY_MS);
      return;
    }
    state.symbol = wanted.get("symbol") || symbols[0];
    const info = listing.symbols.find((s) => s.symbol === state.symbol);
    const tf = wanted.get("timeframe");
    state.timeframe = listing.timeframes.includes(tf) ? tf : (info && !info.timeframes.includes("1m") ? info.timeframes[0] : "1m");
    state.strategy = wanted.get("strategy") || "";
    fillSelect($("symbol"), symbols, state.symbol);
    fillSelect($("timeframe"), listing.timeframes, state.timeframe);
    $("symbol").addEventListener("change", (e) => { state.symbol = e.target.value; load(); });
    $("timeframe").addEventListener("change", (e) => { state.timeframe = e.target.value; load(); });
    $("strategy").addEventListener("change", (e) => {
      state.strategy = e.target.value;
      history.replaceState(null, "", `?${query({ symbol: state.symbol, timeframe: state.timeframe, strategy: state.strategy })}`);
      renderMarkers();
      updateCounts();
    });
    setInterval(refreshSymbols, SYMBOLS_EVERY_MS);
    await load();
  }

  // Symbols that start trading after the page opened join the picker.
  async function refreshSymbols() {
    try {
      const listing = await getJSON("/api/symbols");
      const symbols = listing.symbols.map((s) => s.symbol);
      if (!symbols.includes(state.symbol)) symbols.push(state.symbol);
      const shown = [...$("symbol").options].map((o) => o.value);
      if (shown.join() !== symbols.join()) fillSelect($("symbol"), symbols, state.symbol);
    } catch (e) {
      // the stream and the health panel already say when something is down
    }
  }

  // What tests (and the console) may read: what the series actually hold.
  window.mpChart = {
    candleCount: () => series.candles.data().length,
    markerCount: () => markers.markers().length,
    lastCandle: () => series.candles.data().at(-1) || null,
    seriesCounts: () => Object.fromEntries(Object.entries(series).map(([k, s]) => [k, s.data().length])),
    state,
  };

  refreshHealth();
  setInterval(refreshHealth, HEALTH_EVERY_MS);
  start();
})();
