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
            t_env.execute_sql(st.sql.replace("CREATE TEMPORARY SYSTEM FUNCTION",
                                             "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS"))
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


def _edge_cases() -> list[str | None]:
    """Records at the edges of the rules, beyond the integration corpus."""
    ts = 1_718_632_830_123_456_789
    trade = {"symbol": "AAPL", "ts_ns": ts, "price": 189.25, "size": 100}
    cases: list[str | None] = [json.dumps({**trade, **change}) for change in (
        {"symbol": "\tAAPL"}, {"symbol": "aapl\n"}, {"symbol": " brk.b "}, {"symbol": True}, {"symbol": ["A"]},
        {"symbol": "A" * 16}, {"symbol": "A" * 17}, {"symbol": "1ABC"}, {"symbol": "\u00dfAB"},
        {"kind": 1}, {"kind": None}, {"kind": "Heartbeat"}, {"kind": "trade"},
        {"price": 1e3}, {"price": 10**400}, {"price": 9_999_999.99}, {"price": 10_000_000}, {"price": True},
        {"price": 1}, {"price": -0.0}, {"size": 1e2}, {"size": 2**63}, {"size": 100_000_000},
        {"size": 100_000_001}, {"size": True}, {"ts_ns": 2**63}, {"ts_ns": -(10**18)}, {"ts_ns": 1.7e18},
        {"ts_ns": 631_238_400_000_000_000}, {"ts_ns": 631_238_399_999_999_999}, {"extra": "x" * 16_300},
    )]
    cases += [
        None, "{}", "{} x", '{"symbol": NaN}', json.dumps({**trade, "price": 1.5}).replace("1.5", "NaN"),
        f'{{"symbol": "AAPL", "symbol": 7, "ts_ns": {ts}, "price": 1, "size": 1}}',  # the last key wins
        # as deep as the parser reads (64 levels, the object included), and one deeper
        json.dumps(trade)[:-1] + ', "deep": ' + "[" * 63 + "]" * 63 + "}",
        json.dumps(trade)[:-1] + ', "deep": ' + "[" * 64 + "]" * 64 + "}",
        json.dumps(trade)[:-1] + ', "deep": "' + "[" * 70 + '"}',
        json.dumps({"kind": "heartbeat", "ts_ns": ts}), json.dumps({"kind": "heartbeat", "ts_ns": str(ts)}),
        json.dumps({"kind": "heartbeat", "ts_ns": ts, "symbol": 5}),
    ]
    return cases


def test_the_python_mirror_of_the_rules_agrees_with_the_sql(t_env: Any) -> None:
    """marketpipe.rules.ticks (what feeds, the CLI and tests predict) gives every record the outcome and
    reason the SQL gives it: the corpus, the clean trades above and the edge cases."""
    from marketpipe.rules.ticks import TickRules, outcome, reject_reason

    payloads = [None if val is None else val.decode("utf-8", errors="replace") for _, val, _ in CORPUS]
    payloads += _edge_cases()
    got = _classify(t_env, payloads)
    rules = TickRules.from_settings(Settings())
    mirror = {i: (outcome(p, rules), reject_reason(p, rules)) for i, p in enumerate(payloads)}
    differ = {i: ((p or "")[:80], got[i][:2], mirror[i]) for i, p in enumerate(payloads) if got[i][:2] != mirror[i]}
    assert differ == {}


def test_the_mirror_reads_a_tick_as_its_wire_form() -> None:
    """A feed's Tick is judged without writing its JSON: the same reason as its wire form gets."""
    from marketpipe.feeds.tick import Tick
    from marketpipe.rules.ticks import reject_reason, tick_reject_reason

    ts = 1_718_632_830_123_456_789
    ticks = [
        Tick("AAPL", ts, 189.25, 100), Tick(" aapl ", ts, 1, 1), Tick(None, ts, 1.0, 1), Tick("I B M", ts, 1.0, 1),
        Tick("AAPL", None, 1.0, 1, ts_raw="2024-06-17T10:00:30"), Tick("AAPL", 1, 1.0, 1),
        Tick("AAPL", ts, "NaN", 1), Tick("AAPL", ts, float("inf"), 1), Tick("AAPL", ts, 0, 1),
        Tick("AAPL", ts, 5e8, 1), Tick("AAPL", ts, 1.0, 100.5), Tick("AAPL", ts, 1.0, "100"),
        Tick("AAPL", ts, 1.0, 0), Tick("AAPL", ts, 1.0, 10**12), Tick("AAPL", 2**63, 1.0, 1),
        Tick("AAPL", ts, True, 1), Tick("AAPL", ts, 1.0, 1, trade_id="x" * 20_000),
    ]
    for tick in ticks:
        assert tick_reject_reason(tick) == reject_reason(tick.to_json().decode("ascii")), tick
