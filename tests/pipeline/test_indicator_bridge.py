"""attach_indicators on a local streaming mini-cluster equals TA-Lib per symbol."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pytest
import talib

pytestmark = pytest.mark.pipeline

pyflink = pytest.importorskip("pyflink")

from pyflink.datastream import StreamExecutionEnvironment  # noqa: E402
from pyflink.table import EnvironmentSettings, StreamTableEnvironment  # noqa: E402

from udfs.flink import OUTPUT_COLUMNS, attach_indicators  # noqa: E402

N_BARS = 120
SYMBOLS = ("AAA", "BBB")
T0_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
WINDOW_END_OFFSET_MS = 59_999  # rowtime = window_time of a 1-minute bar


def closes_for(symbol_index: int) -> np.ndarray:
    rng = np.random.default_rng(100 + symbol_index)
    x = 100.0 * (symbol_index + 1) * np.exp(np.cumsum(rng.normal(0.0, 0.01, N_BARS)))
    x[60:70] = x[59]  # a halt: flat closes
    return x


def iso_utc(ms: int) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


@pytest.fixture(scope="module")
def bars_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    lines = []
    for i in range(N_BARS):  # interleaved by time, as bar windows fire
        for s, sym in enumerate(SYMBOLS):
            lines.append(f"{sym},{T0_MS + i * 60_000},{float(closes_for(s)[i])!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_attach_indicators_streaming_matches_talib(bars_csv: Path) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    t_env = StreamTableEnvironment.create(env, EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.execute_sql(
        f"""
        CREATE TEMPORARY TABLE bars_src (
            symbol STRING,
            bar_start_ms BIGINT,
            `close` DOUBLE,
            rowtime AS TO_TIMESTAMP_LTZ(bar_start_ms + {WINDOW_END_OFFSET_MS}, 3),
            WATERMARK FOR rowtime AS rowtime
        ) WITH ('connector' = 'filesystem', 'path' = '{bars_csv}', 'format' = 'csv')
        """
    )
    result = attach_indicators(t_env, t_env.from_path("bars_src"))

    schema = result.get_resolved_schema()
    assert tuple(schema.get_column_names()) == (*OUTPUT_COLUMNS, "rowtime")
    assert "*ROWTIME*" in str(schema)

    t_env.create_temporary_view("with_indicators", result)
    cols = ", ".join(f"`{c}`" for c in OUTPUT_COLUMNS)
    started = time.monotonic()
    # TIMESTAMP_LTZ cannot be collected into Python (pickling error): cast it to a string.
    with t_env.execute_sql(
        f"SELECT {cols}, CAST(rowtime AS STRING) AS rowtime_s FROM with_indicators"
    ).collect() as it:
        rows = list(it)
    print(f"flink job: {len(rows)} rows in {time.monotonic() - started:.1f}s")

    assert len(rows) == N_BARS * len(SYMBOLS)
    for s, sym in enumerate(SYMBOLS):
        got = [r for r in rows if r[0] == sym]
        assert [r[1] for r in got] == [T0_MS + i * 60_000 for i in range(N_BARS)]
        assert [r[-1] for r in got] == [iso_utc(r[1] + WINDOW_END_OFFSET_MS) for r in got]
        xs = closes_for(s)
        assert [r[2] for r in got] == xs.tolist()
        m, sig, h = talib.MACD(xs, 12, 26, 9)
        refs = {
            "ema_12": talib.EMA(xs, 12),
            "ema_26": talib.EMA(xs, 26),
            "rsi_14": talib.RSI(xs, 14),
            "macd": m,
            "macd_signal": sig,
            "macd_hist": h,
            "macd_hist_prev": np.r_[np.nan, h[:-1]],
        }
        for name, ref in refs.items():
            k = OUTPUT_COLUMNS.index(name)
            col = np.array([np.nan if r[k] is None else r[k] for r in got], dtype=float)
            np.testing.assert_array_equal(np.isnan(col), np.isnan(ref), err_msg=f"{sym} {name}")
            np.testing.assert_allclose(col, ref, rtol=1e-9, atol=1e-12, equal_nan=True)
        warm = [r[OUTPUT_COLUMNS.index("is_warm")] for r in got]
        assert warm == [False] * 33 + [True] * (N_BARS - 33)
