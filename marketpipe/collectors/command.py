"""``marketpipe collect``: pick the provider, read credentials from the settings, run the service.

Credentials come only from the settings (``MARKETPIPE_ALPACA_API_KEY`` / ``_SECRET``,
``MARKETPIPE_MASSIVE_API_KEY``: environment, ``.env`` or ``/run/secrets/marketpipe_<name>``), never from
the command line, where they would show in ``ps`` and shell history.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from marketpipe.collectors.base import CollectorConfig, ProviderStream
from marketpipe.collectors.exceptions import CollectorError, ProviderAuthError
from marketpipe.collectors.service import CollectorService, Observer
from marketpipe.feeds.tick import SYMBOL_RE, HeartbeatSchedule
from marketpipe.settings import Settings

log = logging.getLogger(__name__)

PROVIDERS = ("alpaca", "massive")
FEED_METRICS_MODULE = "marketpipe.monitoring.feed_metrics"


def read_symbols(symbols: str | None, symbols_file: str | Path | None, all_symbols: bool) -> list[str]:
    """The symbols to subscribe: ``["*"]`` for ``--all``, else the union of ``--symbols`` (commas or
    spaces) and ``--symbols-file`` (one or more per line, ``#`` comments), upper-cased, in order."""
    if all_symbols:
        if symbols or symbols_file:
            raise CollectorError("--all cannot be combined with --symbols or --symbols-file")
        return ["*"]
    text = (symbols or "").replace(",", " ")
    if symbols_file:
        try:
            lines = Path(symbols_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CollectorError(f"cannot read --symbols-file {symbols_file}: {exc}") from None
        text += " " + " ".join(line.split("#", 1)[0].replace(",", " ") for line in lines)
    picked = list(dict.fromkeys(s.strip().upper() for s in text.split() if s.strip()))
    if not picked:
        raise CollectorError("no symbols: pass --symbols A,B, --symbols-file FILE or --all")
    bad = [s for s in picked if not SYMBOL_RE.match(s)]
    if bad:
        raise CollectorError(f"not ticker symbols: {', '.join(bad[:10])}")
    return picked


def config_of(settings: Settings) -> CollectorConfig:
    """The core's behaviour from the settings."""
    return CollectorConfig(
        stall_s=settings.collector_stall_s,
        buffer_messages=settings.collector_buffer_messages,
        backoff_min_s=settings.collector_backoff_min_s,
        backoff_max_s=settings.collector_backoff_max_s,
    )


def _secret(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    text = value.get_secret_value().strip() if value is not None else ""
    if not text:
        raise ProviderAuthError(
            f"MARKETPIPE_{name.upper()} is not set: put it in the environment, .env or "
            f"/run/secrets/marketpipe_{name} (credentials are never taken from the command line)"
        )
    return text


def build_stream(settings: Settings, provider: str, symbols: list[str], *, feed: str = "iex",
                 url: str | None = None) -> ProviderStream:
    """The provider's stream, with credentials from the settings; ``url`` overrides the endpoint
    (tests, a self-hosted gateway): alpaca a full ``ws[s]://host:port/path``, massive ``ws[s]://host:port``."""
    config = config_of(settings)
    if provider == "alpaca":
        from marketpipe.collectors.alpaca import AlpacaStream

        return AlpacaStream(_secret(settings, "alpaca_api_key"), _secret(settings, "alpaca_api_secret"), symbols,
                            feed=feed, url=url, config=config)
    if provider == "massive":
        from marketpipe.collectors.massive import DEFAULT_FEED, MassiveStream

        host, secure = DEFAULT_FEED, True
        if url:
            parts = urlsplit(url if "://" in url else f"wss://{url}")
            if parts.scheme not in ("ws", "wss") or not parts.netloc:
                raise CollectorError(f"--url for massive must be ws[s]://host[:port], got {url!r}")
            host, secure = parts.netloc, parts.scheme == "wss"
        return MassiveStream(_secret(settings, "massive_api_key"), symbols, feed=host, secure=secure, config=config)
    raise CollectorError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")


def metrics_observers(stream: ProviderStream) -> list[Observer]:
    """The hook for the collector's own counters in Prometheus: ``marketpipe.monitoring.feed_metrics``
    exports the producer's (ticks, heartbeats, errors, produce latency, in flight); when it also offers
    ``collector_observer(name)``, that observer gets :class:`CollectorStats` at every status interval
    (reconnects, stalls, duplicates, malformed frames, backpressure)."""
    try:
        module = importlib.import_module(FEED_METRICS_MODULE)
    except ImportError:
        return []
    factory = getattr(module, "collector_observer", None)
    return [factory(stream.name)] if callable(factory) else []


def run_collect(settings: Settings, *, provider: str, symbols: list[str], feed: str = "iex",
                url: str | None = None, duration: float | None = None, quiet: bool = False,
                final_heartbeat: bool = False) -> dict[str, Any]:
    """``marketpipe collect``: stream trades into ``settings.topic_raw`` until stopped or ``duration``."""
    from marketpipe.feeds.producer import TickProducer
    from marketpipe.rules.ticks import TickRules

    stream = build_stream(settings, provider, symbols, feed=feed, url=url)
    log.info("%s: collecting trades of %s from %s into %s at %s", provider,
             "all symbols" if symbols == ["*"] else f"{len(symbols)} symbol(s)", stream_url(stream),
             settings.topic_raw, settings.kafka_bootstrap)
    producer = TickProducer(settings)
    try:
        from marketpipe.monitoring import feed_metrics
    except ImportError:  # monitoring is optional for a collector
        pass
    else:
        feed_metrics.start(settings, provider, producer)  # as the synthetic feed and replay do
    service = CollectorService(
        stream, producer,
        heartbeats=HeartbeatSchedule(settings.heartbeat_interval_s, settings.heartbeat_every_ticks),
        dedup_window=settings.collector_dedup_per_symbol,
        duration=duration,
        status_interval_s=settings.collector_status_interval_s,
        progress=not quiet,
        final_heartbeat=final_heartbeat,
        rules=TickRules.from_settings(settings),
        observers=metrics_observers(stream),
    )
    summary = service.run()
    summary["heartbeats"] = producer.heartbeats
    summary["delivered"] = producer.ticks_delivered
    return summary


def stream_url(stream: ProviderStream) -> str:
    """Where the stream connects (no credentials in it)."""
    return str(getattr(stream, "url", "?"))
