"""The live candlestick view: ``marketpipe chart`` serves a page and a JSON API on loopback.

The server (:mod:`marketpipe.chart.server`, stdlib ``ThreadingHTTPServer``) listens on
``settings.host:settings.chart_port`` (18050; ``--port`` overrides) and reads PostgreSQL's serving
tables and Prometheus's HTTP API; it writes nothing.

Endpoints (every JSON error is ``{"error": "..."}`` with a 4xx status, or 503 when PostgreSQL is down):

``GET /``
    The page (``static/index.html`` + ``chart.js``): symbol, timeframe and strategy pickers, candles
    with volume, EMA 12/26 and Bollinger overlays, RSI 14 and MACD 12/26/9 panes, buy/sell markers,
    a health panel; it follows ``/api/stream`` without reloading. The chart library,
    TradingView's lightweight-charts, is vendored into ``static/vendor/`` by ``make chart-vendor``
    from ``package.json``/``package-lock.json`` (npm).
``GET /api/symbols``
    ``{"symbols": [{"symbol", "timeframes": [...]}], "timeframes": ["1m", ...]}``: the symbols that
    have bars, per timeframe.
``GET /api/bars?symbol=S&timeframe=1m&limit=500``
    The last ``limit`` (1..5000) bars of ``bars_<tf>``, oldest first, each joined with its row of
    ``indicators_<tf>`` where that table exists (1m, 1d): ``time`` (bar_start, UTC epoch seconds),
    OHLC, ``volume``, ``vwap``, ``trade_count``, ``revision``, ``ema_12``, ``ema_26``, ``bb_upper``,
    ``bb_middle``, ``bb_lower``, ``rsi_14``, ``macd``, ``macd_signal``, ``macd_hist`` (null while
    warming up or when there is no indicator row). 404 when the symbol has no bars in that timeframe.
``GET /api/signals?symbol=S&timeframe=1m[&strategy=macd_rsi][&since=EPOCH_S]``
    ``{"strategies": [...], "signals": [{"time", "strategy", "action", "reason", "close"}]}``: the
    buy/sell rows of ``signals`` (holds are left out) and the strategies present for that symbol and
    timeframe.
``GET /api/health``
    From Prometheus (``settings.prometheus_port``): consumer lag per group/topic/partition, dead letters
    by stage and reason, the last bar end per symbol and the alerts firing. When Prometheus does not
    answer: ``{"prometheus": {"reachable": false, "error": ...}}`` with status 200, so the page says so.
``GET /api/stream?symbol=S&timeframe=1m[&since=EPOCH_S]``
    Server-Sent Events: ``bars`` events carry new or revised bars (a bar is upserted: its ``revision``
    goes up), ``signals`` events new or changed buy/sell signals. The server polls PostgreSQL about once a
    second with one keyed range query per table (``bar_start >=`` the oldest of the last bars seen, so
    revisions of recent bars are caught), sends a comment line when nothing changed (which is how a closed
    client is noticed) and ends the response after an hour (the browser reconnects with
    ``Last-Event-ID``).
"""
