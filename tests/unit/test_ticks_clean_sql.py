"""The cleaning rules of flink_sql/11_ticks_clean.sql, run by Flink itself (local, batch) with the
project's Java tick parser (jvm/udfs, mp_parse_tick / mp_tick_event_time): every class of bad record
of the integration corpus gets its reason, and a clean trade keeps its fields exactly.

The integration test (tests/integration/test_ticks_faults.py) sends the same corpus through Kafka and
the running jobs; this one needs no stack, so a rule change is checked in seconds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from marketpipe.jobs.sql import SQL_DIR, render, split_statements, template_variables
from marketpipe.settings import Settings
from marketpipe.stack.jars import ensure_jars, lib_dir
from tests.integration.test_ticks_faults import CORPUS

# Reasons given later, by the bar step (the record itself is a clean trade).
BAR_STAGE = {"unknown_condition", "duplicate_trade_id", "price_outlier"}


@pytest.fixture(scope="module")
def t_env() -> Any:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    settings = Settings()
    ensure_jars(settings)
    jar = lib_dir(settings, "udfs") / "marketpipe-udfs.jar"
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("pipeline.jars", jar.resolve().as_uri())
    env.get_config().set("table.local-time-zone", "UTC")
    return env


def _classify(t_env: Any, payloads: list[str | None]) -> dict[int, tuple[Any, ...]]:
    from pyflink.table import DataTypes

    v = template_variables(Settings())
    rows = [(p, 0, i) for i, p in enumerate(payloads)]
    schema = DataTypes.ROW([
        DataTypes.FIELD("payload", DataTypes.STRING()),
        DataTypes.FIELD("kafka_partition", DataTypes.INT()),
        DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
    ])
    t_env.create_temporary_view("src", t_env.from_elements(rows, schema))
    # 10_ticks_source.sql's functions and event time, over an in-memory source instead of Kafka.
    text = (SQL_DIR / "10_ticks_source.sql").read_text()
    for st in split_statements(render(text, v)):
        if st.sql.startswith("CREATE TEMPORARY SYSTEM FUNCTION"):
            t_env.execute_sql(st.sql.replace("CREATE TEMPORARY SYSTEM FUNCTION", "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS"))
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW ticks_raw AS SELECT payload, kafka_partition, kafka_offset, "
        "CAST(NULL AS TIMESTAMP_LTZ(3)) AS kafka_ts, "
        f"mp_tick_event_time(payload, {v['min_event_time_ms']}, {v['max_future_s']}) AS event_time FROM src"
    )
    for st in split_statements(render((SQL_DIR / "11_ticks_clean.sql").read_text(), v)):
        if st.bridge is not None:  # read_once: the same table in batch mode
            t_env.create_temporary_view(st.bridge.view, t_env.from_path(st.bridge.input_view))
        else:
            t_env.execute_sql(st.sql.replace("CREATE VIEW", "CREATE TEMPORARY VIEW"))
    sql = ("SELECT kafka_offset, outcome, reject_reason, symbol, ts_ns, price, size, exchange, conditions, "
           "trade_id, source FROM ticks_parsed")
    got = {r[0]: tuple(r[1:]) for r in t_env.execute_sql(sql).collect()}
    for view in ("tick_counts", "ticks_rejected", "ticks_clean", "ticks_parsed", "ticks_classified", "ticks_raw",
                 "src"):
        t_env.drop_temporary_view(view)
    return got


def test_every_bad_record_gets_its_reason(t_env: Any) -> None:
    payloads = [None if val is None else val.decode("utf-8", errors="replace") for _, val, _ in CORPUS]
    got = _classify(t_env, payloads)
    assert len(got) == len(CORPUS)
    wrong = []
    for i, (what, _, reason) in enumerate(CORPUS):
        outcome, got_reason = got[i][:2]
        want = ("clean", None) if reason in BAR_STAGE else ("rejected", reason)
        if (outcome, got_reason) != want:
            wrong.append((what, want, (outcome, got_reason)))
    assert wrong == []


def test_clean_trade_keeps_its_fields(t_env: Any) -> None:
    ts = 1_718_632_830_123_456_789
    records = [
        {"symbol": " aapl ", "ts_ns": ts, "price": 189.25, "size": 100, "exchange": "Q",
         "conditions": "@ F", "trade_id": "52983525029461", "source": "replay"},
        {"symbol": "BRK.B", "ts_ns": ts, "price": 412, "size": 1, "exchange": " ", "trade_id": 7,
         "extra": {"nested": [1, {"a": None}]}},
        {"kind": "heartbeat", "ts_ns": ts},
        {"symbol": "MSFT", "ts_ns": ts, "price": 1e3, "size": 99_999_999, "kind": "trade"},
    ]
    got = _classify(t_env, [json.dumps(r) for r in records])
    assert got[0] == ("clean", None, "AAPL", ts, 189.25, 100, "Q", "@ F", "52983525029461", "replay")
    assert got[1] == ("clean", None, "BRK.B", ts, 412.0, 1, None, None, "7", None)
    assert got[2][:2] == ("heartbeat", None)
    assert got[3] == ("clean", None, "MSFT", ts, 1000.0, 99_999_999, None, None, None, None)
