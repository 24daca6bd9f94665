"""The columnar replay path (``read_batches`` + ``TickProducer.send_encoded``) sends exactly the records
the row-by-row path does: for every row, ``values[i] == Tick.to_json()`` and ``keys[i] == Tick.key`` of the
tick ``read_ticks`` makes of it, byte for byte, and the summary is the same. No Kafka: fakes stand in."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketpipe.feeds.producer import TickProducer
from marketpipe.feeds.replay import ReplaySummary, read_batches, read_ticks, replay, summarize
from marketpipe.feeds.tick import HeartbeatSchedule
from marketpipe.settings import Settings
from tests.fakes.sinks import RecordingSink
from tests.unit.test_producer_resilience import OutageClient

DATA = Path(__file__).resolve().parent.parent / "data"
OPEN_NS = 1_718_285_400_000_000_000

# Odd cells of every kind, next to ordinary ones (each becomes a row of the test file).
ODD_TS = [
    "2024-06-13T09:30:00.123456789-04:00", "2024-06-13T13:30:00Z", "2024-06-13T13:30:00.5Z",
    "2024-06-13T19:00:00.000001+05:30", "1718285400000000001", "-5", "0", "007", "+17",
    "99999999999999999999", "9223372036854775807", "9223372036854775808", "2024-06-13t13:30:00z",
    "2024-06-13 13:30:00Z", "2024-06-13T09:30:00", "2024-02-29T13:30:00Z", "2023-02-29T13:30:00Z",
    "2024-02-30T09:30:00Z", "2016-12-31T23:59:60Z", "2024-06-13T09:30:00+25:00", "2024-06-13T09:30:00-04",
    "2024-06-13T09:30:00.1234567890Z", "2024-06-13T09:30:00.Z", "1600-01-01T00:00:00Z",
    "2300-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z", " 1718285400000000000 ",
    "yesterday", "", "  ", "２０２４-06-13T13:30:00Z", "1.5", "1718285400000000000.0",  # noqa: RUF001 - fullwidth digits on purpose
]
ODD_PRICE = [
    "187.23", "100", "100.0", "007.50", "-0.5", "0.0001", "0.00001", "0.0", "-0.0", "1e3", "1E-7", "abc",
    "nan", "inf", "-Infinity", "", " 42 ", "1_000", "123456789012345.6", "1234567890123456.5",
    "0.1000000000000000055511151231257827", "99999999999999999999", "9999999.99", "10000000", "12.",
    ".5", "+3.5", "٣", "1e400",
]
ODD_SIZE = ["100", "100.0", "1.5", "-100", "00100", "0", "", "x", "1e2", "100.000000000000000001",
            "123456789012345.0", "99999999999999999999", "1e20", "nan", "3.0000"]
ODD_TEXT = ["AAPL", "msft", " aapl ", "BRK.B", "I B M", "", "  ", 'A"B', "A\\B", "Ä", "\u0406BM",
            "A" * 20, "12345", "tab\there", "é,x", "A\u00a0"]
ODD_CONDITIONS = ["@", "@ F", "@,I", "F,I", "", ",@", "@,,I", " @ ", "@, F , I", "@\tF", "Ü"]


def _rows(n: int) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        out.append({
            "ts": ODD_TS[i % len(ODD_TS)] if i % 3 else str(OPEN_NS + i * 1_000_000_007),
            "symbol": ODD_TEXT[i % len(ODD_TEXT)] if i % 2 else f"S{i % 7}",
            "price": ODD_PRICE[(i * 7) % len(ODD_PRICE)],
            "size": ODD_SIZE[(i * 5) % len(ODD_SIZE)],
            "exchange": ODD_TEXT[(i * 3) % len(ODD_TEXT)],
            "conditions": ODD_CONDITIONS[i % len(ODD_CONDITIONS)],
            "trade_id": f"T-{i}" if i % 4 else ODD_TEXT[i % len(ODD_TEXT)],
            "source": ["", "iex", " sip ", "Ä"][i % 4],
        })
    return out


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows([[row[c] for c in columns] for row in rows])
    return path


def _assert_same(path: Path) -> None:
    """The fast path's records, keys, ticks and summary equal the row-by-row path's."""
    ticks = list(read_ticks(path))
    values: list[bytes] = []
    keys: list[bytes | None] = []
    fast_ticks = []
    fast = ReplaySummary()
    for batch in read_batches(path):
        assert len(batch.values) == len(batch.keys) == batch.rows
        values += batch.values
        keys += batch.keys
        fast_ticks += batch.ticks()
        fast.add_batch(batch)
    assert len(values) == len(ticks)
    for i, tick in enumerate(ticks):
        assert values[i] == tick.to_json(), (i, tick)
        assert keys[i] == tick.key, (i, tick)
        json.loads(values[i])  # one JSON object per record
    assert fast_ticks == ticks
    slow = ReplaySummary()
    for tick in ticks:
        slow.add(tick)
    for name in ("rows", "valid_rows", "symbols", "min_ts_ns", "max_ts_ns", "expected_bars", "trades"):
        assert getattr(fast, name) == getattr(slow, name), name
    assert summarize(path).expected_bars == slow.expected_bars


ALL = ["ts", "symbol", "price", "size", "exchange", "conditions", "trade_id", "source"]


@pytest.mark.parametrize("columns", [ALL, ALL[:4], ALL[:7], ["price", "ts", "size", "symbol", "conditions"]])
def test_csv_records_equal_the_row_by_row_path(tmp_path: Path, columns: list[str]) -> None:
    _assert_same(_write_csv(tmp_path / "odd.csv", _rows(600), columns))


def test_small_fixtures_and_gz(tmp_path: Path) -> None:
    import gzip

    _assert_same(DATA / "ticks_small.csv")
    _assert_same(DATA / "ticks_small.parquet")
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(_write_csv(tmp_path / "t.csv", _rows(200), ALL).read_bytes()))
    _assert_same(gz)


def test_generated_session_file(tmp_path: Path) -> None:
    from marketpipe.feeds.fixtures import write_fixture

    fx = write_fixture(tmp_path / "fx.csv", symbols=20, minutes=60, seed=3, bad_per_kind=3)
    _assert_same(fx.path)


def test_csv_that_only_pandas_reads_falls_back(tmp_path: Path) -> None:
    # a row shorter than the header (pandas fills it), quoted newlines, a BOM
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"\xef\xbb\xbfts,symbol,price,size,trade_id\n"
                     b"1718285400000000000,AAPL,1.5,100,A-1\n"
                     b"1718285400000000001,AAPL,1.5,100\n"
                     b'1718285400000000002,"AA\nPL",1.5,100,A-3\n')
    _assert_same(path)


def test_parquet_of_strings_and_typed_columns(tmp_path: Path) -> None:
    rows = _rows(300)
    strings = tmp_path / "strings.parquet"
    table = pa.table({c: [r[c] for r in rows] for c in ALL})
    pq.write_table(table, strings)
    _assert_same(strings)
    with_nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({c: [None if i % 5 == 0 else r[c] for i, r in enumerate(rows)] for c in ALL}),
                   with_nulls)
    _assert_same(with_nulls)
    n = 9
    typed = tmp_path / "typed.parquet"
    pq.write_table(pa.table({
        "ts": pa.array([OPEN_NS + i for i in range(n)], pa.int64()).cast(pa.timestamp("ns", tz="America/New_York")),
        "symbol": pa.array(["AAPL", None, "msft", " x ", "AAPL", "B", "C", "D", "E"]).dictionary_encode(),
        "price": pa.array([187.23, float("nan"), None, float("inf"), 1e-5, 1e16, 100.0, 0.1, -2.5], pa.float64()),
        "size": pa.array([100.0, 2.5, None, 1e20, float("nan"), 3.0, -0.0, 7.0, 1.0], pa.float64()),
        "exchange": pa.array(["Q", None, "", "N", "Q", "Q", "Q", "Q", "Q"], pa.large_string()),
        "trade_id": pa.array([1, 2, None, 4, 5, 6, 7, 8, 9], pa.int64()),
    }), typed)
    _assert_same(typed)
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({
        "ts": pa.array([OPEN_NS, None, -1], pa.int64()), "symbol": ["A", "B", "C"],
        "price": pa.array([10, None, 2**40], pa.int64()), "size": pa.array([3, 0, None], pa.int32()),
        "conditions": ["@,F", None, "I"], "flag": [True, False, True],
    }), ints)
    _assert_same(ints)
    naive = tmp_path / "naive.parquet"
    pq.write_table(pa.table({"ts": pa.array([OPEN_NS], pa.int64()).cast(pa.timestamp("us")), "symbol": ["A"],
                             "price": pa.array([True]), "size": pa.array([3], pa.uint64())}), naive)
    _assert_same(naive)


_cells = st.one_of(
    st.sampled_from(ODD_TS + ODD_PRICE + ODD_SIZE),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_cells, _cells, _cells, _cells, _cells), min_size=1, max_size=30))
def test_any_cells_give_the_same_records(tmp_path_factory: pytest.TempPathFactory,
                                         cells: list[tuple[str, ...]]) -> None:
    path = tmp_path_factory.mktemp("prop") / "p.parquet"  # Parquet: any text survives the file as is
    names = ["ts", "symbol", "price", "size", "conditions"]
    pq.write_table(pa.table({name: [row[i] for row in cells] for i, name in enumerate(names)}), path)
    _assert_same(path)


# -- the producer's batch form and replay() through it ------------------------------------------------


def _producer(client: OutageClient, **kw: Any) -> TickProducer:
    producer = TickProducer(Settings(), client=client, **kw)
    client.error_cb = producer._on_error
    return producer


class _Recorder(RecordingSink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, Any]] = []

    def send(self, tick: Any) -> None:
        super().send(tick)
        self.events.append(("tick", (tick.to_json(), tick.key)))

    def send_heartbeats(self, ts_ns: int) -> None:
        super().send_heartbeats(ts_ns)
        self.events.append(("heartbeat", ts_ns))


def _events_of(client: OutageClient) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for record in client.log:
        if record["partition"] is None:
            out.append(("tick", (record["value"], record["key"])))
        elif record["partition"] == 0:  # one heartbeat round = one per partition
            out.append(("heartbeat", json.loads(record["value"])["ts_ns"]))
    return out


@pytest.mark.parametrize("every", [1, 7, 10_000])
def test_replay_through_the_producer_sends_what_the_tick_path_sends(tmp_path: Path, every: int) -> None:
    path = _write_csv(tmp_path / "odd.csv", _rows(250), ALL)
    ticks_sink = _Recorder()
    replay(path, ticks_sink, progress=False, heartbeats=HeartbeatSchedule(interval_s=3600, every_ticks=every))
    client = OutageClient()
    producer = _producer(client)
    summary = replay(path, producer, progress=False,
                     heartbeats=HeartbeatSchedule(interval_s=3600, every_ticks=every))
    assert _events_of(client) == ticks_sink.events  # same records, keys, heartbeats, in the same order
    assert producer.ticks_delivered == summary.rows == 250
    assert producer.heartbeats_delivered == 3 * len(ticks_sink.heartbeats)


def test_send_encoded_waits_on_a_full_queue_and_keeps_order() -> None:
    client = OutageClient(down_until=time.monotonic() + 0.3, capacity=5)
    producer = _producer(client, queue_full_timeout=5.0)
    values = [json.dumps({"trade_id": f"A-{i}"}).encode() for i in range(12)]
    producer.send_encoded(values, [b"AAPL"] * 12)
    producer.flush(5.0)
    assert [r["value"] for r in client.log] == values
    assert producer.produced == producer.ticks_delivered == 12


def test_replay_failure_through_send_encoded_counts_what_was_queued(tmp_path: Path) -> None:
    from marketpipe.exceptions import FeedError

    path = _write_csv(tmp_path / "t.csv", _rows(40), ALL[:4])
    client = OutageClient(down_until=time.monotonic() + 60, capacity=10)
    producer = _producer(client, queue_full_timeout=0.2)
    with pytest.raises(FeedError, match=r"0 of 40 rows delivered \(10 queued\).*NOT sent"):
        replay(path, producer, progress=False)


def test_paced_replay_through_the_producer(tmp_path: Path) -> None:
    path = tmp_path / "paced.csv"
    path.write_text("ts,symbol,price,size\n" + "".join(
        f"{OPEN_NS + i * 10**9 // 2},A,1,1\n" for i in range(9)) + ",A,1,1\n")
    client = OutageClient()
    producer = _producer(client)
    summary = replay(path, producer, speed=10.0, progress=False)
    assert summary.rows == 10 and producer.ticks_delivered == 10
    sent = [json.loads(r["value"]) for r in client.log if r["partition"] is None]
    assert [t["ts_ns"] for t in sent] == [OPEN_NS + i * 10**9 // 2 for i in range(9)] + [None]
