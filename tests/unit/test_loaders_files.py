"""FileLoader: CSV and Parquet, our own and the providers' column names, range filtering, rejects."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketpipe.exceptions import BadSymbolError, ConfigError, LoaderFileError
from marketpipe.loaders import DailyBar, FileLoader, get_loader
from marketpipe.settings import Settings
from tests.fakes.providers import RECORDINGS

MAR1, MAR15 = date(2024, 3, 1), date(2024, 3, 15)
OURS = """Symbol,DATE,Open,High,Low,Close,Volume,Adj_Close
AAPL,2024-03-04,176.15,176.9,173.79,175.1,81510101,174.3
AAPL,2024-03-05,170.76,172.04,169.62,170.12,95132355,
MSFT,2024-03-04,413.44,417.35,412.32,414.92,17596000,412.1
AAPL,2024-03-09,170.0,171.0,169.0,170.5,1000,
AAPL,2024-02-29,181.27,182.57,179.53,180.75,136682597,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_our_columns_in_any_case(tmp_path: Path) -> None:
    files = FileLoader(write(tmp_path, "bars.csv", OURS))
    bars = files.load(["aapl"], MAR1, MAR15)
    assert bars == [
        DailyBar("AAPL", date(2024, 3, 4), 176.15, 176.9, 173.79, 175.1, 81510101, 174.3, source="file:bars.csv"),
        DailyBar("AAPL", date(2024, 3, 5), 170.76, 172.04, 169.62, 170.12, 95132355, None, source="file:bars.csv"),
    ]  # 2024-02-29 is outside the range (dropped), 2024-03-09 a Saturday (rejected)
    assert [(r.session_date, r.reason) for r in files.last_rejects] == [
        (date(2024, 3, 9), "2024-03-09 is not a XNYS trading day")
    ]


def test_empty_symbol_list_loads_every_symbol(tmp_path: Path) -> None:
    bars = FileLoader(write(tmp_path, "bars.csv", OURS)).load([], MAR1, MAR15)
    assert sorted({b.symbol for b in bars}) == ["AAPL", "MSFT"] and len(bars) == 3


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    table = pa.table({
        "symbol": ["SPY", "SPY"],
        "date": pa.array([date(2024, 3, 14), date(2024, 3, 15)], pa.date32()),
        "open": [515.0, 518.68], "high": [517.0, 522.97], "low": [512.0, 507.22], "close": [514.95, 509.83],
        "volume": pa.array([80_000_000, 86_844_081], pa.int64()),
        "adj_close": [None, 492.041],
    })
    pq.write_table(table, tmp_path / "spy.parquet")
    bars = FileLoader(tmp_path / "spy.parquet").load(["SPY"], MAR1, MAR15)
    assert [(b.session_date, b.close, b.volume, b.adj_close) for b in bars] == [
        (date(2024, 3, 14), 514.95, 80_000_000, None), (MAR15, 509.83, 86_844_081, 492.041)
    ]


def test_parquet_with_timestamp_dates(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "ticker": ["MSFT"], "date": pd.to_datetime(["2024-03-05T00:00:00Z"]),
        "open": [405.0], "high": [406.0], "low": [401.0], "close": [402.65], "volume": [1.0e6],
    })
    frame.to_parquet(tmp_path / "m.parquet")
    [bar] = FileLoader(tmp_path / "m.parquet").load(["MSFT"], MAR1, MAR15)
    assert bar.session_date == date(2024, 3, 5) and bar.volume == 1_000_000


def test_stooq_download_names_symbol_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "aapl.us.csv"
    path.write_bytes((RECORDINGS / "stooq" / "aapl.us.csv").read_bytes())
    bars = FileLoader(path).load(["AAPL"], date(2024, 3, 11), MAR15)
    assert [b.session_date.day for b in bars] == [11, 12, 13, 14, 15] and {b.symbol for b in bars} == {"AAPL"}


def test_stooq_bulk_format(tmp_path: Path) -> None:
    text = "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n" \
           "AAPL.US,D,20240305,000000,173.83,175.08,167.46,168.26,57529319,0\n"
    [bar] = FileLoader(write(tmp_path, "bulk.txt", text)).load(["AAPL"], MAR1, MAR15)
    assert (bar.symbol, bar.session_date, bar.close, bar.volume) == ("AAPL", date(2024, 3, 5), 168.26, 57529319)


def test_tiingo_columns(tmp_path: Path) -> None:
    frame = pd.read_json(RECORDINGS / "tiingo" / "SPY.json", dtype=False)
    frame.insert(0, "ticker", "SPY")
    frame.to_csv(tmp_path / "tiingo.csv", index=False)
    bars = FileLoader(tmp_path / "tiingo.csv").load(["SPY"], MAR1, MAR15)
    assert len(bars) == 11
    assert (bars[-1].dividend, bars[-1].split_factor, bars[0].dividend) == (1.5943, None, None)
    assert bars[0].adj_close == 493.4232


def test_bad_rows_and_missing_symbols(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "symbol,date,open,high,low,close,volume\n"
                                    "AAPL,2024-03-05,x,1,1,1,1\nAAPL,someday,1,1,1,1,1\n,2024-03-05,1,1,1,1,1\n")
    files = FileLoader(path)
    assert files.load(["AAPL"], MAR1, MAR15) == []
    assert [r.reason for r in files.last_rejects] == [
        "unparseable row: unparseable open 'x'",
        "unparseable row: unparseable date 'someday'",
        "unparseable row: missing symbol",
    ]
    with pytest.raises(BadSymbolError, match=r"file:b\.csv: no rows for symbol NVDA"):
        files.load(["NVDA"], MAR1, MAR15)
    skipping = FileLoader(path, on_bad_symbol="skip")
    skipping.load(["NVDA"], MAR1, MAR15)
    assert "no rows for symbol NVDA" in skipping.last_rejects[-1].reason


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(LoaderFileError, match="not found"):
        FileLoader(tmp_path / "nope.csv").load(["AAPL"], MAR1, MAR15)
    with pytest.raises(LoaderFileError, match=r"missing column\(s\) high, low"):
        FileLoader(write(tmp_path, "x.csv", "symbol,date,open,close\nA,2024-03-05,1,1\n")).load([], MAR1, MAR15)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(LoaderFileError, match="cannot read"):
        FileLoader(tmp_path / "broken.parquet").load([], MAR1, MAR15)


def test_get_loader_file_needs_a_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a path"):
        get_loader("file", Settings())
    with pytest.raises(ConfigError, match="unknown daily-bar source 'yahoo'"):
        get_loader("yahoo", Settings())
    loader = get_loader("file", Settings(), path=write(tmp_path, "bars.csv", OURS))
    assert loader.name == "file:bars.csv"
