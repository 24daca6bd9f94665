"""attach_indicators on a local Flink mini-cluster, streaming and batch, equals TA-Lib per symbol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import talib

pytestmark = pytest.mark.pipeline

pyflink = pytest.importorskip("pyflink")

from pyflink.table import EnvironmentSettings, StreamTableEnvironment, TableEnvironment  # noqa: E402

from udfs.flink.indicators import OUTPUT_COLUMNS, attach_indicators  # noqa: E402

SYMBOLS = ("AAA", "BBB")
BARS = 150
T0_MS = 1_718_285_400_000  # 2024-06-13 13:30 UTC
WINDOW_END_OFFSET_MS = 59_999  # the rowtime of a 1-minute bar is its window_time


def ohlcv(symbol_index: int) -> dict[str, npt.NDArray[np.float64]]:
    """A random-walk OHLCV series with a flat halt and a gap."""
    rng = np.random.default_rng(100 + symbol_index)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, BARS)))
    close[60:70] = close[59]
    close[100:] *= 1.3
    spread = np.abs(rng.normal(0, 0.005, BARS)) * close
    open_ = np.round(close * (1 + rng.normal(0, 0.002, BARS)), 4)
    high = np.round(np.maximum(open_, close) + spread, 4)
    low = np.round(np.minimum(open_, close) - spread, 4)
    high[60:70] = low[60:70] = open_[60:70] = close[60:70]
    volume = rng.integers(100, 10_000, BARS)
    return {"open": open_, "high": high, "low": low, "close": np.round(close, 4), "volume": volume}


@pytest.fixture(scope="module")
def bars_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    lines = []
    for s, sym in enumerate(SYMBOLS):
        d = ohlcv(s)
        for i in range(BARS):
            o, h, lo, c = (float(d[k][i]) for k in ("open", "high", "low", "close"))
            v = int(d["volume"][i])
            lines.append(f"{sym},{T0_MS + i * 60_000},{o!r},{h!r},{lo!r},{c!r},{v},{c!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(bars_csv: Path, mode: str) -> dict[str, list[tuple[Any, ...]]]:
    if mode == "streaming":
        from pyflink.datastream import StreamExecutionEnvironment

        t_env: Any = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
        watermark = ", WATERMARK FOR rowtime AS rowtime"
    else:
        t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
        watermark = ""
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.get_config().set("parallelism.default", "1")
    t_env.execute_sql(
        f"""
        CREATE TEMPORARY TABLE bars_src (
            symbol STRING, bar_start_ms BIGINT, `open` DOUBLE, high DOUBLE, low DOUBLE,
            `close` DOUBLE, volume BIGINT, vwap DOUBLE,
            rowtime AS TO_TIMESTAMP_LTZ(bar_start_ms + {WINDOW_END_OFFSET_MS}, 3){watermark}
        ) WITH ('connector' = 'filesystem', 'path' = '{bars_csv}', 'format' = 'csv')
        """
    )
    result = attach_indicators(t_env, t_env.from_path("bars_src"))
    assert tuple(result.get_schema().get_field_names()) == (*OUTPUT_COLUMNS, "rowtime")
    t_env.create_temporary_view("ind", result)
    cols = ", ".join(f"`{c}`" for c in OUTPUT_COLUMNS)
    table = t_env.sql_query(f"SELECT {cols}, CAST(rowtime AS STRING) AS rt FROM ind")
    out: dict[str, list[tuple[Any, ...]]] = {}
    with table.execute().collect() as results:
        for row in results:
            out.setdefault(row[0], []).append(tuple(row))
    for rows in out.values():
        rows.sort(key=lambda r: r[1])
    return out


@pytest.fixture(scope="module")
def streaming(bars_csv: Path) -> dict[str, list[tuple[Any, ...]]]:
    return run(bars_csv, "streaming")


@pytest.fixture(scope="module")
def batch(bars_csv: Path) -> dict[str, list[tuple[Any, ...]]]:
    return run(bars_csv, "batch")


def col(rows: list[tuple[Any, ...]], name: str) -> npt.NDArray[np.float64]:
    i = OUTPUT_COLUMNS.index(name)
    return np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=float)


@pytest.mark.parametrize("mode", ["streaming", "batch"])
def test_indicators_match_talib(mode: str, request: pytest.FixtureRequest) -> None:
    result = request.getfixturevalue(mode)
    assert set(result) == set(SYMBOLS)
    for s, sym in enumerate(SYMBOLS):
        rows = result[sym]
        d = ohlcv(s)
        assert [r[1] for r in rows] == [T0_MS + i * 60_000 for i in range(BARS)]
        macd, signal, hist = talib.MACD(d["close"], 12, 26, 9)
        upper, middle, lower = talib.BBANDS(d["close"], 20, 2.0, 2.0, talib.MA_Type.SMA)
        k, dd = talib.STOCH(d["high"], d["low"], d["close"], 14, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA)
        expected = {
            "ema_12": talib.EMA(d["close"], 12),
            "ema_26": talib.EMA(d["close"], 26),
            "rsi_14": talib.RSI(d["close"], 14),
            "macd": macd, "macd_signal": signal, "macd_hist": hist,
            "sma_20": talib.SMA(d["close"], 20),
            "bb_upper": upper, "bb_middle": middle, "bb_lower": lower,
            "atr_14": talib.ATR(d["high"], d["low"], d["close"], 14),
            "stoch_k": k, "stoch_d": dd,
            "volume_sma_20": talib.SMA(d["volume"].astype(float), 20),
        }
        for name, ref in expected.items():
            np.testing.assert_allclose(col(rows, name), ref, rtol=1e-9, atol=1e-10, equal_nan=True,
                                       err_msg=f"{mode} {sym} {name}")
        warm = [r[OUTPUT_COLUMNS.index("is_warm")] for r in rows]
        assert warm == [i >= 33 for i in range(BARS)]
        # rowtime travels with each row unchanged in streaming; batch rebuilds it from bar_start_ms.
        if mode == "streaming":
            assert rows[0][-1] == "2024-06-13 13:30:59.999"


def test_streaming_equals_batch(streaming: dict[str, Any], batch: dict[str, Any]) -> None:
    for sym in SYMBOLS:
        assert [r[:-1] for r in streaming[sym]] == [r[:-1] for r in batch[sym]]


@pytest.mark.parametrize(("periods", "error"), [
    ({"rsi": 1}, "period must be an int >= 2, got 1"),
    ({"ema_fast": 0, "sma": 10}, "period must be an int >= 1, got 0"),
    ({"rsi_period": 9}, "unknown indicator periods ['rsi_period']"),
])
def test_a_period_the_indicators_refuse_fails_the_job_build(periods: dict[str, int], error: str) -> None:
    import json

    from udfs.flink.indicators import PERIODS_KEY, config_of

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set(PERIODS_KEY, json.dumps(periods))
    with pytest.raises(ValueError, match="indicator periods") as info:
        config_of(t_env)
    assert error in str(info.value)
    t_env.get_config().set(PERIODS_KEY, json.dumps({"rsi": 9, "sma": 10}))
    config = config_of(t_env)
    assert (config.rsi, config.sma, config.ema_fast) == (9, 10, 12)
