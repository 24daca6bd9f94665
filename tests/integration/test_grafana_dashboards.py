"""Every panel of the Grafana dashboards (docker/grafana/dashboards) returns data from the real
Prometheus of the test stack.

No Grafana server can be installed here, so this runs each panel's queries the way Grafana would: a
range query over the last minutes, with the dashboard's variables and Grafana's built-in
``$__rate_interval`` substituted. A short synthetic feed runs first so the feed panels have series; it
writes to a topic of its own so the pipeline's topics (and the other tests' exact counts) are untouched.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from marketpipe.settings import REPO_ROOT
from tests.conftest import RunningStack

pytestmark = pytest.mark.integration

DASHBOARDS = sorted((REPO_ROOT / "docker" / "grafana" / "dashboards").glob("*.json"))
FEED_TOPIC = "monitoring.dashboards"
# Grafana's built-ins, as it would expand them for a short range on a 1-5 s scrape interval.
BUILTINS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "15m"}


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL with variables expanded) for every target of every panel."""
    variables = {
        f"${v['name']}": v.get("allValue") or ".*" for v in dashboard.get("templating", {}).get("list", [])
    }
    out: list[tuple[str, str]] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in {**BUILTINS, **variables}.items():
                expr = expr.replace(name, value)
            out.append((panel["title"], expr))
    return out


def _query_range(base: str, expr: str, minutes: int = 15) -> list[dict[str, Any]]:
    end = time.time()
    params = urllib.parse.urlencode({"query": expr, "start": end - minutes * 60, "end": end, "step": "5"})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


LIVE_SYMBOL = "ZZLIVE"  # a bar "just committed", removed again at the end


@pytest.fixture(scope="module")
def live_bar(stack: RunningStack) -> Iterator[None]:
    """One 1m bar that ended a minute ago, committed now, so the bar-latency panel has a sample.

    The exporter counts only bars of the last minutes (a replay of a past day is no live latency), and no
    test stack trades in a live session; the row is what the bars job would upsert for such a minute.
    """
    from marketpipe import db

    end = datetime.now(UTC).replace(second=0, microsecond=0)
    with db.connect(stack.settings) as conn:
        conn.execute(
            "INSERT INTO bars (timeframe, symbol, bar_start, bar_end, open, high, low, close, volume, vwap,"
            " trade_count, session, session_date) VALUES ('1m', %s, %s, %s, 10, 10, 10, 10, 100, 10, 1, 'regular', %s)",
            (LIVE_SYMBOL, end - timedelta(minutes=1), end, end.date()),
        )
    try:
        yield
    finally:
        with db.connect(stack.settings) as conn:
            conn.execute("DELETE FROM bars_1m WHERE symbol = %s", (LIVE_SYMBOL,))


@pytest.fixture(scope="module")
def fed(stack: RunningStack, replayed: dict[str, Any], live_bar: None) -> None:
    """A 20 s synthetic feed into a topic of its own, so the feed metrics exist (and Prometheus
    scraped them at least twice, for rate())."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": stack.settings.kafka_bootstrap})
    futures = admin.create_topics([NewTopic(FEED_TOPIC, num_partitions=stack.settings.kafka_partitions)])
    for future in futures.values():
        try:
            future.result(timeout=30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    env = {**stack.env, "MARKETPIPE_TOPIC_RAW": FEED_TOPIC}
    proc = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "feed", "synthetic", "--symbols", "2", "--rate", "50",
         "--duration", "20", "--quiet"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_dashboards_are_provisionable() -> None:
    """Each file is a dashboard Grafana can provision: unique uid, panels with ids, positions and
    queries against the provisioned datasource."""
    assert len(DASHBOARDS) >= 2
    datasource = (REPO_ROOT / "docker" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids, path
        uids.add(dashboard["uid"])
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path
        for panel in dashboard["panels"]:
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert f"uid: {target['datasource']['uid']}" in datasource, panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_every_panel_returns_data(stack: RunningStack, fed: None, path: Path) -> None:
    base = f"http://{stack.settings.host}:{stack.settings.prometheus_port}"
    empty: list[str] = []
    for title, expr in panel_queries(json.loads(path.read_text())):
        # Freshly started series may be a scrape or two away: retry a query briefly before calling it empty.
        deadline = time.monotonic() + 30
        while not (result := _query_range(base, expr)) and time.monotonic() < deadline:
            time.sleep(2)
        if not result:
            empty.append(f"{title}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
