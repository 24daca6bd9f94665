"""The health panel's numbers, read from Prometheus's HTTP API (``/api/v1/query``, ``/api/v1/alerts``).

Metric names are those of the monitoring contract (marketpipe's exporter): consumer lag per partition,
dead letters by reason, the newest 1m bar per symbol. An unreachable Prometheus is an answer, not an
error: ``{"prometheus": {"reachable": false, ...}}``, which the page shows as such.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from marketpipe.settings import Settings

TIMEOUT_S = 2.0
QUERIES = {
    "consumer_lag": "marketpipe_kafka_consumer_lag",
    "dead_letters": "sum by (stage, reason) (marketpipe_ticks_dead_lettered_total)",
    "last_bar": "marketpipe_bar_last_end_seconds",
}


class PrometheusUnreachableError(Exception):
    """Prometheus did not answer (refused, timed out, or not an API response)."""


def prometheus_url(settings: Settings) -> str:
    """Base URL of the stack's Prometheus (``MARKETPIPE_PROMETHEUS_HOST`` when it is elsewhere)."""
    return settings.prometheus_url


def _get(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as exc:  # 4xx/5xx: Prometheus answered with an error body
        try:
            body = json.load(exc)
        except ValueError:
            raise PrometheusUnreachableError(f"HTTP {exc.code} from {url}") from None
    except urllib.error.URLError as exc:  # refused, unknown host, timed out while connecting
        raise PrometheusUnreachableError(str(exc.reason)) from None
    except (OSError, ValueError) as exc:
        raise PrometheusUnreachableError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(body, dict) or "status" not in body:
        raise PrometheusUnreachableError(f"not a Prometheus API answer from {url}")
    return body


def _value(sample: dict[str, Any]) -> float | None:
    value = float(sample["value"][1])
    return value if math.isfinite(value) else None


def query(base: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's samples as ``{"labels": {...}, "value": float | None}``."""
    body = _get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    if body["status"] != "success":
        raise ValueError(body.get("error", "query failed"))
    return [{"labels": s["metric"], "value": _value(s)} for s in body["data"]["result"]]


def firing_alerts(base: str) -> list[dict[str, Any]]:
    """Alerts in state ``firing``: name, severity, summary, since when."""
    body = _get(f"{base}/api/v1/alerts")
    return [
        {
            "alertname": a["labels"].get("alertname", ""),
            "severity": a["labels"].get("severity", ""),
            "summary": a.get("annotations", {}).get("summary", ""),
            "labels": a["labels"],
            "active_at": a.get("activeAt"),
        }
        for a in body.get("data", {}).get("alerts", [])
        if a.get("state") == "firing"
    ]


def health(settings: Settings) -> dict[str, Any]:
    """Everything the health panel shows; each part fails on its own."""
    base = prometheus_url(settings)
    out: dict[str, Any] = {"prometheus": {"url": base, "reachable": True}, "now": time.time()}
    try:
        out["alerts_firing"] = firing_alerts(base)
    except PrometheusUnreachableError as exc:
        return {"prometheus": {"url": base, "reachable": False, "error": str(exc)}, "now": out["now"]}
    errors: dict[str, str] = {}
    for name, promql in QUERIES.items():
        try:
            samples = query(base, promql)
        except (PrometheusUnreachableError, ValueError, KeyError) as exc:
            errors[name] = str(exc)
            continue
        if name == "consumer_lag":
            out[name] = sorted(
                ({**{k: s["labels"].get(k, "") for k in ("group", "topic", "partition")}, "lag": s["value"]}
                 for s in samples),
                key=lambda r: (r["group"], r["topic"], r["partition"].zfill(6)),
            )
        elif name == "dead_letters":
            out[name] = sorted(
                ({"stage": s["labels"].get("stage", ""), "reason": s["labels"].get("reason", ""),
                  "count": s["value"]} for s in samples),
                key=lambda r: -(r["count"] or 0),
            )
        else:
            out[name] = sorted(
                ({"symbol": s["labels"].get("symbol", ""), "bar_end": s["value"]} for s in samples),
                key=lambda r: r["symbol"],
            )
    if errors:
        out["errors"] = errors
    return out
