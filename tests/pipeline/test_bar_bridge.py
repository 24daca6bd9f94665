"""build_bars on a local Flink mini-cluster: streaming (the JVM step and the Python one) and batch all
equal the pure Python engine."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

pytestmark = pytest.mark.pipeline

pytest.importorskip("pyflink")

from pyflink.table import EnvironmentSettings, StreamTableEnvironment, TableEnvironment  # noqa: E402

from marketpipe.rules.ticks import TickRules  # noqa: E402
from marketpipe.settings import Settings  # noqa: E402
from marketpipe.stack.jars import ensure_jars, lib_dir  # noqa: E402
from udfs.bars.config import Reference  # noqa: E402
from udfs.bars.engine import latest, run_batch  # noqa: E402
from udfs.bars.model import Trade  # noqa: E402
from udfs.flink.bars import BAR_COLUMNS, CONFIG_KEY, REJECT_COLUMNS, bar_values, build_bars  # noqa: E402

NY = ZoneInfo("America/New_York")
SYMBOLS = ("AAPL", "IBM", "ZZQUIET")


def ticks() -> list[tuple[Any, ...]]:
    """Ticks over a session close and the next open: auctions, odd lots, reports, a closed-market tick."""
    rng = np.random.default_rng(5)
    rows: list[tuple[Any, ...]] = []
    offset = 0
    day_close = int(datetime(2024, 6, 13, 15, 50, tzinfo=NY).timestamp()) * 10**9
    for s, sym in enumerate(SYMBOLS):
        ex = "Q" if sym == "AAPL" else "N"
        t = day_close
        px = 100.0 + s
        n = 40 if sym == "ZZQUIET" else 400
        for _ in range(n):
            t += int(rng.integers(1, 4 * 10**9))
            px = round(px * (1 + rng.normal(0, 0.001)), 2)
            cond = str(rng.choice(["@", "@", "@ I", "F", "T", ""]))
            offset += 1
            rows.append((sym, t, px, int(rng.integers(1, 5)) * 100, "N", cond, f"{sym}-{offset}", 0, offset))
        offset += 1
        rows.append((sym, day_close + 10 * 60 * 10**9 + 2 * 10**9, px, 5000, ex, "6", "close", 0, offset))
        offset += 1
        rows.append((sym, day_close + 10 * 60 * 10**9 + 3 * 10**9, px, 0, ex, "M", "report", 0, offset))
    offset += 1
    saturday = int(datetime(2024, 6, 15, 11, 0, tzinfo=NY).timestamp()) * 10**9
    rows.append(("AAPL", saturday, 1.0, 1, "Q", "@", "weekend", 0, offset))
    return rows


@pytest.fixture(scope="module")
def ticks_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ticks") / "ticks.csv"
    # In event-time order, as a feed sends them: with a 2 s watermark bound, a file grouped by symbol
    # would make every symbol after the first late (the JVM step sees the watermark as it is; the
    # Python step, bundled, saw it late and hid that).
    lines = [",".join(str(v) for v in row) for row in sorted(ticks(), key=lambda r: (r[1], r[8]))]
    path.write_text("\n".join(lines) + "\n")
    return path


def expected() -> tuple[dict[tuple[str, str, int], tuple[Any, ...]], list[tuple[Any, ...]]]:
    ref = Reference({})
    bars: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    rejected = []
    for sym in SYMBOLS:
        trades = [Trade(r[1], r[2], r[3], r[4], r[5] or None, r[8]) for r in ticks() if r[0] == sym]
        out = run_batch(sym, trades, ref.context(sym))
        for key, row in latest(out.bars).items():
            bars[key] = bar_values(row)
        rejected += [(sym, r.trade.seq, r.reason) for r in out.rejected]
    return bars, sorted(rejected)


def run(
    ticks_csv: Path, mode: str, parallelism: int = 1
) -> tuple[dict[tuple[str, str, int], tuple[Any, ...]], list[tuple[Any, ...]]]:
    if mode.startswith("streaming"):
        from pyflink.datastream import StreamExecutionEnvironment

        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(parallelism)
        t_env: Any = StreamTableEnvironment.create(env)
        # the job's watermark delay (the settings' default, as marketpipe.rules.ticks reads it)
        watermark = f", WATERMARK FOR event_time AS event_time - INTERVAL '{TickRules().watermark_delay_s}' SECOND"
        engine = mode.split("-")[1]
        t_env.get_config().set(CONFIG_KEY, json.dumps({"engine": engine}))
        if engine == "java":  # on the cluster the jar is in Flink's lib/; here the job adds it
            settings = Settings()
            ensure_jars(settings)
            t_env.get_config().set("pipeline.jars", (lib_dir(settings, "udfs") / "marketpipe-udfs.jar").as_uri())
    else:
        t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
        watermark = ""
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.get_config().set("parallelism.default", str(parallelism))
    t_env.execute_sql(
        f"""
        CREATE TEMPORARY TABLE ticks_src (
            symbol STRING, ts_ns BIGINT, price DOUBLE, size BIGINT, exchange STRING, conditions STRING,
            trade_id STRING, kafka_partition INT, kafka_offset BIGINT,
            event_time AS TO_TIMESTAMP_LTZ(ts_ns / 1000000, 3){watermark}
        ) WITH ('connector' = 'filesystem', 'path' = '{ticks_csv}', 'format' = 'csv')
        """
    )
    src = t_env.sql_query(
        "SELECT symbol, ts_ns, price, size, exchange, NULLIF(conditions, '') AS conditions, trade_id, "
        "kafka_partition, kafka_offset, CAST(NULL AS STRING) AS source, event_time FROM ticks_src"
    )
    bars_table, unbarred = build_bars(t_env, src)
    t_env.create_temporary_view("ticks_unbarred", unbarred)
    assert tuple(bars_table.get_schema().get_field_names()) == BAR_COLUMNS
    t_env.create_temporary_view("bars_out", bars_table)
    bars: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    with t_env.sql_query("SELECT * FROM bars_out").execute().collect() as results:
        for r in results:
            values = tuple(r)
            key = (values[0], values[1], values[2] * 1_000_000)
            if key not in bars or values[-1] >= bars[key][-1]:
                bars[key] = values
    rejected = []
    cols = ", ".join(REJECT_COLUMNS)
    with t_env.sql_query(f"SELECT {cols} FROM ticks_unbarred").execute().collect() as results:
        for r in results:
            rejected.append((r[3], r[1], r[2]))
    return bars, sorted(rejected)


@pytest.mark.parametrize(
    ("mode", "parallelism"),
    # Parallelism 2: the bar step is keyed by symbol, so the symbols split over two subtasks (each with
    # its own watermark) must still give the same rows (docs/performance.md, scaling out).
    [("streaming-java", 1), ("streaming-java", 2), ("streaming-python", 1), ("batch", 1)],
)
def test_bridge_equals_engine(ticks_csv: Path, mode: str, parallelism: int) -> None:
    want_bars, want_rejected = expected()
    got_bars, got_rejected = run(ticks_csv, mode, parallelism)
    if parallelism > 1:  # the symbols really were split over the subtasks (Flink's key-group hashing)
        from pyflink.java_gateway import get_gateway

        assign = get_gateway().jvm.org.apache.flink.runtime.state.KeyGroupRangeAssignment
        subtasks = {assign.assignKeyToParallelOperator(sym, 128, parallelism) for sym in SYMBOLS}
        assert len(subtasks) > 1, subtasks
    assert set(got_bars) == set(want_bars)
    for key, want in want_bars.items():
        got = got_bars[key]
        assert got[:-1] == want[:-1], key  # all but the revision (streaming may revise within grace)
    assert got_rejected == want_rejected
    reasons = {r[2] for r in want_rejected}
    assert {"market_closed", "official_report"} <= reasons
    timeframes = {k[0] for k in want_bars}
    assert timeframes == {"1m", "5m", "15m", "1h", "1d"}
