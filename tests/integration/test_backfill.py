"""`marketpipe backfill` runs the indicator SQL in batch mode: same rows as streaming, TA-Lib on daily bars."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import talib

from marketpipe import db

pytestmark = pytest.mark.integration

INDICATOR_COLUMNS = (
    "symbol, bar_start, close, volume, ema_12, ema_26, rsi_14, rsi_14_prev, macd, macd_signal, "
    "macd_hist, macd_hist_prev, sma_20, bb_middle, bb_upper, bb_lower, atr_14, stoch_k, stoch_d, "
    "vwap_session, volume_sma_20, is_warm, ema_12_warm, ema_26_warm, rsi_14_warm, macd_warm, "
    "sma_20_warm, bb_warm, atr_14_warm, stoch_warm, vwap_warm, volume_sma_20_warm"
)


def _rows(stack: Any, sql: str) -> list[tuple[Any, ...]]:
    with db.connect(stack.settings) as conn:
        return conn.execute(sql).fetchall()


def test_backfill_equals_streaming_row_for_row(
    stack: Any, replayed: dict[str, Any], tmp_path: Path
) -> None:
    bars = pd.DataFrame(
        _rows(stack, "SELECT symbol, (extract(epoch FROM bar_start) * 1e9)::bigint, open, high, low, "
                     "close, volume, vwap FROM bars_1m ORDER BY 1, 2"),
        columns=["symbol", "ts", "open", "high", "low", "close", "volume", "vwap"],
    )
    path = tmp_path / "bars_1m.parquet"
    bars.to_parquet(path)  # Parquet keeps every double exact
    out = stack.cli("backfill", "--bars", str(path), "--timeframe", "1m", "--pg-schema", "backfill",
                    "--lake-namespace", "backfill_gold", "--quiet")
    assert f'"bars": {len(bars)}' in out.stdout

    streaming = _rows(stack, f"SELECT {INDICATOR_COLUMNS} FROM public.indicators_1m ORDER BY 1, 2")
    backfill = _rows(stack, f"SELECT {INDICATOR_COLUMNS} FROM backfill.indicators_1m ORDER BY 1, 2")
    assert len(streaming) == len(bars) > 0
    assert backfill == streaming  # bit for bit, NULLs and warm flags included

    sig_cols = "symbol, timeframe, bar_start, strategy, action, reason, close, macd_hist, rsi_14"
    s_sig = _rows(stack, f"SELECT {sig_cols} FROM public.signals ORDER BY 1, 2, 3, 4")
    b_sig = _rows(stack, f"SELECT {sig_cols} FROM backfill.signals ORDER BY 1, 2, 3, 4")
    assert len(s_sig) > 0 and b_sig == s_sig
    assert {r[3] for r in s_sig} == {"macd_rsi", "rsi_reversion", "bb_breakout"}


def _daily(symbols: int, days: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frames = []
    sessions = [d for d in (date(2023, 1, 2) + timedelta(n) for n in range(days * 2)) if d.weekday() < 5]
    sessions = sessions[:days]
    for s in range(symbols):
        close = np.round(50 * np.exp(np.cumsum(rng.normal(0, 0.02, days))), 2)
        open_ = np.round(close * (1 + rng.normal(0, 0.01, days)), 2)
        high = np.maximum(open_, close) + np.round(np.abs(rng.normal(0, 0.5, days)), 2)
        low = np.minimum(open_, close) - np.round(np.abs(rng.normal(0, 0.5, days)), 2)
        frames.append(pd.DataFrame({
            "symbol": f"D{s}", "date": [d.isoformat() for d in sessions], "open": open_, "high": high,
            "low": low, "close": close, "volume": rng.integers(10_000, 1_000_000, days),
        }))
    return pd.concat(frames, ignore_index=True)


def test_daily_backfill_matches_talib(stack: Any, tmp_path: Path) -> None:
    daily = _daily(symbols=3, days=250)
    path = tmp_path / "daily.csv"
    daily.to_csv(path, index=False)
    stack.cli("backfill", "--bars", str(path), "--timeframe", "1d", "--quiet")

    rows = _rows(stack, "SELECT symbol, bar_start, close, ema_26, rsi_14, macd_hist, bb_upper, atr_14, "
                        "stoch_k FROM indicators_1d WHERE symbol LIKE 'D%' ORDER BY 1, 2")
    assert len(rows) == len(daily)
    # A daily bar is labelled by its session open, 09:30 New York (13:30 or 14:30 UTC), not UTC midnight.
    assert {(r[1].hour, r[1].minute) for r in rows} <= {(13, 30), (14, 30)}
    for sym, d in daily.groupby("symbol"):
        got = [r for r in rows if r[0] == sym]
        h, lo, c = (d[k].to_numpy(float) for k in ("high", "low", "close"))
        expected = {
            3: talib.EMA(c, 26), 4: talib.RSI(c, 14), 5: talib.MACD(c, 12, 26, 9)[2],
            6: talib.BBANDS(c, 20, 2.0, 2.0, talib.MA_Type.SMA)[0], 7: talib.ATR(h, lo, c, 14),
            8: talib.STOCH(h, lo, c, 14, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA)[0],
        }
        for col, want in expected.items():
            have = np.array([np.nan if r[col] is None else r[col] for r in got])
            np.testing.assert_allclose(have, want, rtol=1e-9, atol=1e-10, equal_nan=True,
                                       err_msg=f"{sym} column {col}")
    n = _rows(stack, "SELECT count(*) FROM signals WHERE timeframe = '1d' AND symbol LIKE 'D%'")[0][0]
    assert n > 0


def test_backfill_rejects_a_bad_file(stack: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,date,open,high,low,close,volume\nX,2024-01-02,10,9,8,9.5,100\n")
    import subprocess

    from marketpipe.settings import REPO_ROOT

    proc = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "backfill", "--bars", str(bad),
                           "--timeframe", "1d"], env=stack.env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2
    assert "row 2 is not a valid 1d bar" in proc.stderr


BAR_COLUMNS = (
    "symbol, bar_start, bar_end, open, high, low, close, volume, vwap, trade_count, session, session_date, "
    "first_trade_at, last_trade_at, pv_sum, filled"
)


def test_backfill_of_the_tick_file_equals_the_replay(stack: Any, replayed: dict[str, Any]) -> None:
    """`marketpipe backfill --ticks FILE` (batch, same SQL 10-13) builds the bars the replay built."""
    out = stack.cli("backfill", "--ticks", str(replayed["path"]), "--pg-schema", "bf_ticks", "--quiet")
    assert '"ticks"' in out.stdout
    fixture = replayed["fixture"]
    symbols = sorted(fixture.symbols)
    with db.connect(stack.settings) as conn:
        # bars the stream has closed by now: its watermark stopped at the replay's final heartbeat
        (horizon,) = conn.execute("SELECT max(bar_end) FROM public.bars_1m").fetchone()  # type: ignore[misc]
        compared = 0
        for tf in ("1m", "5m", "15m", "1h"):
            query = (
                f"SELECT {BAR_COLUMNS} FROM {{schema}}.bars_{tf} "
                "WHERE symbol = ANY(%s) AND bar_end <= %s ORDER BY symbol, bar_start"
            )
            streamed = conn.execute(query.format(schema="public"), (symbols, horizon)).fetchall()
            batch = conn.execute(query.format(schema="bf_ticks"), (symbols, horizon)).fetchall()
            assert streamed, tf
            assert batch == streamed, f"bars_{tf}: backfill differs from replay"
            compared += len(batch)
        dlq = conn.execute("SELECT count(*) FROM bf_ticks.ticks_dlq").fetchone()[0]  # type: ignore[index]
    assert compared > len(fixture.bars)
    assert dlq == sum(fixture.bad_rows.values())  # the same rows are dead-lettered, with partition -1
