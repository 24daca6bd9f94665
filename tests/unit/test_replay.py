"""Unit tests of replay parsing (CSV and Parquet), exact timestamp conversion, the summary's
``expected_bars`` pre-check and replay pacing. No Kafka: a recording sink stands in for the producer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketpipe.exceptions import FeedError
from marketpipe.feeds.replay import ReplaySummary, read_ticks, replay, summarize
from marketpipe.feeds.session import to_ns
from marketpipe.feeds.tick import Tick
from marketpipe.feeds.values import parse_iso_ns, parse_number, parse_size, parse_ts
from tests.fakes.sinks import RecordingSink

DATA = Path(__file__).resolve().parent.parent / "data"
SMALL_CSV = DATA / "ticks_small.csv"
SMALL_PARQUET = DATA / "ticks_small.parquet"
OPEN_NS = 1_718_285_400_000_000_000  # 2024-06-13 09:30 New York = 13:30 UTC
OPEN_MS = OPEN_NS // 10**6
S = 10**9


def _t(symbol: str | None, ts_ns: int | None, price: Any, size: Any, exchange: str | None,
       conditions: str | None, trade_id: str, ts_raw: str | None = None) -> Tick:
    return Tick(symbol, ts_ns, price, size, exchange, conditions, trade_id, "replay", ts_raw)


# Row by row what tests/data/ticks_small.csv must become.
EXPECTED_SMALL = [
    _t("AAPL", OPEN_NS + 123456789, 187.23, 100, "Q", "@ F", "A-1"),                   # ISO -04:00, ns
    _t("MSFT", OPEN_NS + 500_000_000, 420.10, 200, "N", "@ I", "M-1"),                  # Z, comma codes
    _t("AAPL", OPEN_NS + 60 * S + 1, 187.30, 50, "P", None, "A-2"),                     # epoch ns
    _t("AAPL", OPEN_NS + 70 * S, "abc", 100, "Q", "@", "A-3"),                          # text price
    _t("MSFT", OPEN_NS + 80 * S, 420.20, -100, "Z", "@", "M-2"),                        # negative size
    _t("AAPL", None, 187.40, 100, "Q", "@", "A-4"),                                     # missing ts
    _t("AAPL", None, 187.50, 100, "Q", "@", "A-5", ts_raw="2024-06-13T09:31:30"),       # naive ts
    _t(None, OPEN_NS + 120 * S, 187.60, 100, "Q", "@", "A-6"),                          # empty symbol
    _t("msft", OPEN_NS + 150 * S + 1, 420.30, 300, "K", "@ F I", "M-3"),                # mixed separators
    _t("NVDA", OPEN_NS + 180 * S, 120.5, 100, "Q", "@", "N-1"),                         # space, size 100.0
    _t("NVDA", OPEN_NS + 185 * S, 0, 100, "Q", "@", "N-2"),                             # zero price
    _t("NVDA", OPEN_NS + 186 * S, 100.0, 1.5, "Q", "@", "N-3"),                         # fractional size
]
EXPECTED_BARS = {
    ("AAPL", OPEN_MS), ("MSFT", OPEN_MS), ("AAPL", OPEN_MS + 60_000),
    ("MSFT", OPEN_MS + 120_000), ("NVDA", OPEN_MS + 180_000),
}


# -- reading --------------------------------------------------------------------------------------


def test_read_csv_rows_as_found() -> None:
    assert list(read_ticks(SMALL_CSV)) == EXPECTED_SMALL


def test_read_parquet_of_strings_equals_csv() -> None:
    assert list(read_ticks(SMALL_PARQUET)) == EXPECTED_SMALL


def test_read_typed_parquet(tmp_path: Path) -> None:
    ns = [OPEN_NS + 1, OPEN_NS + 60 * S + 999, OPEN_NS + 120 * S]
    table = pa.table({
        "ts": pa.array(ns, pa.int64()).cast(pa.timestamp("ns", tz="America/New_York")),
        "symbol": ["AAPL", None, "MSFT"],
        "price": pa.array([187.23, float("nan"), None], pa.float64()),
        "size": pa.array([100.0, 2.5, None], pa.float64()),
        "trade_id": pa.array([1, 2, None], pa.int64()),
    })
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    assert list(read_ticks(path)) == [
        Tick("AAPL", OPEN_NS + 1, 187.23, 100, None, None, "1", "replay"),
        Tick(None, OPEN_NS + 60 * S + 999, "nan", 2.5, None, None, "2", "replay"),
        Tick("MSFT", OPEN_NS + 120 * S, None, None, None, None, None, "replay"),
    ]


def test_read_parquet_int_and_naive_timestamps(tmp_path: Path) -> None:
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"ts": pa.array([OPEN_NS + 7], pa.int64()), "symbol": ["A"],
                             "price": [1.5], "size": pa.array([3], pa.int64()),
                             "conditions": ["@,F"]}), ints)
    assert list(read_ticks(ints)) == [Tick("A", OPEN_NS + 7, 1.5, 3, None, "@ F", None, "replay")]
    naive = tmp_path / "naive.parquet"
    ts = pa.array([OPEN_NS], pa.int64()).cast(pa.timestamp("ns"))
    pq.write_table(pa.table({"ts": ts, "symbol": ["A"], "price": [1.5], "size": [3]}), naive)
    (tick,) = read_ticks(naive)
    assert tick.ts_ns is None and tick.ts_raw is not None and tick.ts_raw.startswith("2024-06-13 13:30:00")


def test_read_csv_gz_and_pq_suffix(tmp_path: Path) -> None:
    import gzip

    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(SMALL_CSV.read_bytes()))
    assert list(read_ticks(gz)) == EXPECTED_SMALL
    pq_path = tmp_path / "t.pq"
    pq_path.write_bytes(SMALL_PARQUET.read_bytes())
    assert list(read_ticks(pq_path)) == EXPECTED_SMALL


def test_header_only_file_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("ts,symbol,price,size\n")
    assert list(read_ticks(path)) == []


def test_missing_file_is_a_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="no such file"):
        read_ticks(tmp_path / "nope.csv")


def test_unknown_extension_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "ticks.json"
    path.write_text("{}")
    with pytest.raises(FeedError, match="unknown file type"):
        read_ticks(path)


def test_missing_columns_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    path.write_text("ts,symbol,qty\n1,A,3\n")
    with pytest.raises(FeedError, match="missing required column\\(s\\) price, size"):
        read_ticks(path)
    parquet = tmp_path / "partial.parquet"
    pq.write_table(pa.table({"symbol": ["A"], "price": [1.0]}), parquet)
    with pytest.raises(FeedError, match="ts, size"):
        read_ticks(parquet)


def test_unreadable_files_are_feed_errors(tmp_path: Path) -> None:
    empty = tmp_path / "zero.csv"
    empty.write_bytes(b"")
    with pytest.raises(FeedError):
        read_ticks(empty)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(FeedError):
        read_ticks(broken)


# -- exact conversion ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-13T09:30:00.123456789-04:00", OPEN_NS + 123456789),
        ("2024-06-13T09:30:00.123456-04:00", OPEN_NS + 123456000),
        ("2024-06-13T13:30:00Z", OPEN_NS),
        ("2024-06-13t13:30:00.1z", OPEN_NS + 100_000_000),
        ("2024-06-13 13:30:00+00:00", OPEN_NS),
        ("2024-06-13T19:00:00+0530", OPEN_NS),
        ("2024-06-13T09:30:00-04", OPEN_NS),
        ("2024-06-13T09:30:00,5-04:00", OPEN_NS + 500_000_000),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("2024-06-13T09:30:00", None),  # naive: ambiguous, not guessed
        ("2024-06-13T09:30:00.1234567890Z", None),  # more than nanoseconds
        ("2024-02-30T09:30:00Z", None),
        ("2016-12-31T23:59:60Z", None),  # leap second
        ("2024-06-13T09:30:00+25:00", None),
        ("13/06/2024 09:30", None),
        ("", None),
    ],
)
def test_parse_iso_ns(text: str, expected: int | None) -> None:
    assert parse_iso_ns(text) == expected


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),  # noqa: DTZ001
    st.integers(0, 999),
    st.integers(-14 * 60, 14 * 60),
)
def test_iso_parsing_keeps_every_nanosecond(naive: datetime, extra_ns: int, offset_min: int) -> None:
    zone = timezone(timedelta(minutes=offset_min))
    aware = naive.replace(tzinfo=zone)
    text = aware.strftime("%Y-%m-%dT%H:%M:%S") + f".{aware.microsecond:06d}{extra_ns:03d}" + aware.strftime("%z")
    assert parse_iso_ns(text) == to_ns(aware) + extra_ns
    assert parse_ts(text) == (to_ns(aware) + extra_ns, None)


def test_parse_ts_forms() -> None:
    assert parse_ts(" 1718285400000000001 ") == (OPEN_NS + 1, None)
    assert parse_ts(OPEN_NS) == (OPEN_NS, None)
    assert parse_ts(None) == (None, None) and parse_ts("  ") == (None, None)
    assert parse_ts(float("nan")) == (None, None)
    assert parse_ts("yesterday") == (None, "yesterday")
    assert parse_ts(1.5) == (None, "1.5")
    assert parse_ts(datetime(2024, 6, 13, 13, 30, tzinfo=UTC)) == (OPEN_NS, None)
    assert parse_ts(datetime(2024, 6, 13, 13, 30)) == (None, "2024-06-13T13:30:00")  # noqa: DTZ001


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("187.23", 187.23), (" 42 ", 42), ("1e3", 1000.0), ("-0.5", -0.5), ("abc", "abc"),
        ("nan", "nan"), ("inf", "inf"), ("", None), (None, None), (float("nan"), "nan"),
        (7, 7), (2.5, 2.5), (Decimal("187.23"), 187.23), (True, "True"),
    ],
)
def test_parse_number(value: Any, expected: Any) -> None:
    assert parse_number(value) == expected
    assert type(parse_number(value)) is type(expected)


def test_parse_size_makes_integral_floats_ints() -> None:
    assert parse_size("100.0") == 100 and isinstance(parse_size("100.0"), int)
    assert parse_size(1.5) == 1.5 and parse_size("x") == "x" and parse_size("") is None


# -- summary and replay ---------------------------------------------------------------------------


def test_summary_and_expected_bars() -> None:
    summary = summarize(SMALL_CSV)
    assert summary.rows == 12 and summary.valid_rows == 5
    assert summary.symbols == {"AAPL", "MSFT", "NVDA"}
    assert summary.min_ts_ns == OPEN_NS + 123456789 and summary.max_ts_ns == OPEN_NS + 186 * S
    assert summary.expected_bars == EXPECTED_BARS


def test_expected_bars_uses_utc_minute_floor() -> None:
    summary = ReplaySummary()
    summary.add(Tick(" aapl ", OPEN_NS + 59 * S + 999_999_999, 1.0, 1))
    summary.add(Tick("AAPL", OPEN_NS + 60 * S, 1.0, 1))
    summary.add(Tick("AAPL", OPEN_NS + 120 * S, 1e9, 1))  # at the job's price bound: not valid
    summary.add(Tick("AAPL", OPEN_NS + 180 * S, float("inf"), 1))
    summary.add(Tick("AAPL", OPEN_NS + 240 * S, 1.0, True))
    assert summary.expected_bars == {("AAPL", OPEN_MS), ("AAPL", OPEN_MS + 60_000)}
    assert summary.valid_rows == 2 and summary.rows == 5


@pytest.mark.parametrize("path", [SMALL_CSV, SMALL_PARQUET])
def test_replay_sends_in_file_order_then_heartbeats(path: Path) -> None:
    sink = RecordingSink()
    summary = replay(path, sink, speed="max", progress=False)
    assert sink.ticks == EXPECTED_SMALL
    assert summary.heartbeat_ts_ns == OPEN_NS + 186 * S + 65 * S
    # every row is flushed before the end heartbeats go out, which are flushed in turn
    assert sink.heartbeats == [summary.heartbeat_ts_ns] and sink.flushes == 2
    assert summary.expected_bars == EXPECTED_BARS


def test_replay_paces_by_event_time(tmp_path: Path) -> None:
    path = tmp_path / "paced.csv"
    path.write_text(
        "ts,symbol,price,size\n"
        f"{OPEN_NS},A,1,1\n"
        f",A,1,1\n"
        f"{OPEN_NS + 2 * S},A,1,1\n"
        f"{OPEN_NS + 4 * S},A,1,1\n"
    )
    sink = RecordingSink()
    began = time.monotonic()
    summary = replay(path, sink, speed=10.0, progress=False)
    elapsed = time.monotonic() - began
    assert 0.35 < elapsed < 1.5  # 4 s of event time at 10x
    assert summary.rows == 4 and len(sink.ticks) == 4


def test_replay_with_progress_and_no_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "nots.csv"
    path.write_text("ts,symbol,price,size\nbad,A,1,1\n")
    sink = RecordingSink()
    summary = replay(path, sink, progress=True)
    assert summary.rows == 1 and summary.heartbeat_ts_ns is None and sink.heartbeats == []
    assert sink.flushes == 1  # no end heartbeats without an event time


@pytest.mark.parametrize("speed", [0, -1.0, float("inf"), "fast"])
def test_replay_rejects_bad_speed(speed: Any) -> None:
    with pytest.raises(FeedError, match="speed"):
        replay(SMALL_CSV, RecordingSink(), speed=speed, progress=False)


# -- heartbeats while streaming, and failures -------------------------------------------------------


class _Events(RecordingSink):
    """Keeps ticks and heartbeat rounds in one ordered list."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, Any]] = []

    def send(self, tick: Tick) -> None:
        super().send(tick)
        self.events.append(("tick", tick))

    def send_heartbeats(self, ts_ns: int) -> None:
        super().send_heartbeats(ts_ns)
        self.events.append(("heartbeat", ts_ns))


def _sorted_file(path: Path, n: int, step_ns: int = S) -> Path:
    lines = ["ts,symbol,price,size"] + [f"{OPEN_NS + i * step_ns},A,1,1" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_heartbeats_every_m_ticks_at_the_latest_event_time(tmp_path: Path) -> None:
    from marketpipe.feeds.tick import HeartbeatSchedule

    sink = _Events()
    path = _sorted_file(tmp_path / "t.csv", 25)
    summary = replay(path, sink, progress=False, heartbeats=HeartbeatSchedule(interval_s=3600, every_ticks=10))
    beats = [(i, ts) for i, (kind, ts) in enumerate(sink.events) if kind == "heartbeat"]
    assert [ts for _, ts in beats] == [OPEN_NS + 9 * S, OPEN_NS + 19 * S, summary.heartbeat_ts_ns]
    for i, ts in beats[:-1]:
        sent = [t.ts_ns for kind, t in sink.events[:i] if kind == "tick"]
        assert ts == max(sent)  # never ahead of the data sent so far


def test_replay_heartbeats_by_wall_time_while_pacing(tmp_path: Path) -> None:
    from marketpipe.feeds.tick import HeartbeatSchedule

    # 0 s, then a 6 s gap of event time at 10x: 0.6 s of wall time with nothing to send
    path = tmp_path / "gap.csv"
    path.write_text(f"ts,symbol,price,size\n{OPEN_NS},A,1,1\n{OPEN_NS + 6 * S},A,1,1\n")
    sink = _Events()
    replay(path, sink, speed=10.0, progress=False, heartbeats=HeartbeatSchedule(interval_s=0.1, every_ticks=10**6))
    during = [ts for kind, ts in sink.events[1:-2] if kind == "heartbeat"]
    assert 3 <= len(during) <= 8 and set(during) == {OPEN_NS}  # the latest event time, not the wall clock


def test_replay_file_out_of_order_heartbeats_carry_the_maximum(tmp_path: Path) -> None:
    from marketpipe.feeds.tick import HeartbeatSchedule

    path = tmp_path / "ooo.csv"
    path.write_text(f"ts,symbol,price,size\n{OPEN_NS + 5 * S},A,1,1\n{OPEN_NS},A,1,1\n")
    sink = _Events()
    replay(path, sink, progress=False, heartbeats=HeartbeatSchedule(interval_s=3600, every_ticks=1))
    assert sink.heartbeats[:2] == [OPEN_NS + 5 * S, OPEN_NS + 5 * S]


class _FailingSink(RecordingSink):
    """Accepts ``ok`` ticks, then every send raises as a producer does after delivery failed for good."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok
        self.ticks_delivered = 0

    def send(self, tick: Tick) -> None:
        if len(self.ticks) >= self.ok:
            raise FeedError("3 message(s) to 'ticks.raw' failed: Local: Message timed out")
        super().send(tick)
        self.ticks_delivered = len(self.ticks) - 3


def test_replay_failure_says_how_far_it_got_and_that_end_heartbeats_were_not_sent(tmp_path: Path) -> None:
    path = _sorted_file(tmp_path / "t.csv", 20)
    sink = _FailingSink(ok=12)
    with pytest.raises(FeedError) as info:
        replay(path, sink, progress=False)
    message = str(info.value)
    assert "9 of 20 rows delivered" in message and "12 queued" in message
    assert "end heartbeats were NOT sent" in message and "Message timed out" in message
    assert sink.heartbeats == [] or max(sink.heartbeats) <= OPEN_NS + 11 * S


def test_replay_end_heartbeats_only_after_the_rows_are_flushed(tmp_path: Path) -> None:
    class FlushFails(RecordingSink):
        def flush(self, timeout: float = 30.0) -> None:
            raise FeedError("1 message(s) still undelivered")

    sink = FlushFails()
    with pytest.raises(FeedError, match="end heartbeats were NOT sent"):
        replay(_sorted_file(tmp_path / "t.csv", 3), sink, progress=False)
    assert sink.heartbeats == []


@pytest.mark.parametrize(
    ("symbol", "price", "size", "valid"),
    [
        ("aapl ", 10.0, 100, True), ("BRK.B", 10.0, 100, True), ("I B M", 10.0, 100, False),
        ("\u0406BM", 10.0, 100, False), ("12345", 10.0, 100, False), ("A" * 17, 10.0, 100, False),
        ("AAPL", 5e8, 100, False), ("AAPL", 10.0, 10**12, False), ("AAPL", float("nan"), 100, False),
    ],
)
def test_looks_valid_follows_the_jobs_bounds(symbol: str, price: float, size: int, valid: bool) -> None:
    from marketpipe.feeds.tick import Tick
    from marketpipe.rules.ticks import looks_valid

    # a time the job accepts (ts_ns=1, before min_event_time, is dead-lettered as timestamp_out_of_range)
    assert looks_valid(Tick(symbol=symbol, ts_ns=OPEN_NS, price=price, size=size)) is valid
