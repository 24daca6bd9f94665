"""The loaders' HTTP edge against the fake provider server: retries, Retry-After, timeouts and the
token bucket. Sleeps are recorded instead of slept, so the retry ladder costs no wall time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from marketpipe.exceptions import ProviderError, RateLimitError
from marketpipe.loaders.http import HttpClient, retry_after_s, snippet
from marketpipe.loaders.ratelimit import TokenBucket
from tests.fakes.providers import SERVE, FakeProviderServer, rate_limited, server_error, slow

STOOQ_AAPL = "/q/d/l/?s=aapl.us&d1=20240301&d2=20240315&i=d"


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as fake:
        yield fake


def client(retries: int = 3, timeout_s: float = 5.0, sleeps: list[float] | None = None) -> HttpClient:
    return HttpClient(
        "stooq", timeout_s=timeout_s, retries=retries,
        sleep=(sleeps if sleeps is not None else []).append, rng=random.Random(1),
    )


def test_plain_get_returns_the_recording(server: FakeProviderServer) -> None:
    response = client().get(server.base_url + STOOQ_AAPL)
    assert response.status == 200
    assert response.text.startswith("Date,Open,High,Low,Close,Volume\r\n2024-03-01,")
    assert response.text.count("\r\n") == 12  # header + 11 sessions
    assert server.count("stooq", "AAPL") == 1


def test_500_twice_then_success_is_retried(server: FakeProviderServer) -> None:
    server.script("AAPL", server_error(), server_error(503))
    sleeps: list[float] = []
    http = client(retries=3, sleeps=sleeps)
    response = http.get(server.base_url + STOOQ_AAPL)
    assert response.status == 200
    assert server.count(symbol="AAPL") == 3 and http.requests == 3
    # Exponential backoff with jitter: retry n waits between half and all of 0.5 * 2**(n-1).
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_5xx_beyond_retries_is_a_provider_error_with_the_body(server: FakeProviderServer) -> None:
    server.script("AAPL", *[server_error()] * 3)
    with pytest.raises(ProviderError, match=r"gave up after 3 attempts; last: HTTP 500: <html>"):
        client(retries=2).get(server.base_url + STOOQ_AAPL, what="AAPL")
    assert server.count() == 3


def test_429_honours_retry_after_then_succeeds(server: FakeProviderServer) -> None:
    server.script("AAPL", rate_limited(retry_after=7), SERVE)
    sleeps: list[float] = []
    response = client(sleeps=sleeps).get(server.base_url + STOOQ_AAPL)
    assert response.status == 200
    assert sleeps == [7.0]
    assert server.count() == 2


def test_retry_after_is_capped(server: FakeProviderServer) -> None:
    server.script("AAPL", rate_limited(retry_after=3600))
    sleeps: list[float] = []
    http = HttpClient("stooq", max_delay_s=2.0, sleep=sleeps.append)
    assert http.get(server.base_url + STOOQ_AAPL).status == 200
    assert sleeps == [2.0]


def test_429_every_time_is_a_rate_limit_error(server: FakeProviderServer) -> None:
    server.script("AAPL", *[rate_limited(retry_after=None)] * 3)
    with pytest.raises(RateLimitError, match=r"still rate limited \(HTTP 429\) after 3 attempts"):
        client(retries=2).get(server.base_url + STOOQ_AAPL)
    assert server.count() == 3


def test_other_4xx_is_returned_without_retry(server: FakeProviderServer) -> None:
    response = client().get(server.base_url + "/tiingo/daily/aapl/prices?format=json")
    assert response.status == 401
    assert server.count() == 1


def test_timeout_is_retried_then_reported(server: FakeProviderServer) -> None:
    server.script("AAPL", slow(10), slow(10))
    with pytest.raises(ProviderError, match=r"gave up after 2 attempts; last: timed out after 0.3 s"):
        client(retries=1, timeout_s=0.3).get(server.base_url + STOOQ_AAPL)
    assert server.count() == 2


def test_slow_once_then_fast_succeeds(server: FakeProviderServer) -> None:
    server.script("AAPL", slow(10))
    response = client(retries=2, timeout_s=0.3).get(server.base_url + STOOQ_AAPL)
    assert response.status == 200 and server.count() == 2


def test_connection_refused_is_retried() -> None:
    with FakeProviderServer() as fake:
        url = fake.base_url + STOOQ_AAPL
    sleeps: list[float] = []
    http = client(retries=2, sleeps=sleeps)
    with pytest.raises(ProviderError, match="gave up after 3 attempts"):
        http.get(url)
    assert http.requests == 3 and len(sleeps) == 2


def test_retry_after_parsing() -> None:
    now = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    assert retry_after_s("5") == 5.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_snippet_is_one_short_line() -> None:
    assert snippet(b"a\n  b\tc") == "a b c"
    assert snippet("x" * 500, limit=10) == "x" * 10 + "..."


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_requests_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        bucket.acquire()
        starts.append(clock.now)
    assert starts == [100.0, 100.5, 101.0, 101.5, 102.0]
    assert clock.slept == [0.5] * 4


def test_token_bucket_refills_while_idle_and_keeps_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(1.0)
    clock.now += 10  # idle long enough to refill, but only up to the burst
    assert [bucket.acquire() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.0)]


def test_disabled_bucket_never_waits() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0, clock=clock, sleep=clock.sleep)
    assert [bucket.acquire() for _ in range(10)] == [0.0] * 10 and clock.slept == []


def test_client_takes_a_token_per_attempt(server: FakeProviderServer) -> None:
    server.script("AAPL", server_error())
    clock = FakeClock()
    bucket = TokenBucket(1.0, clock=clock, sleep=clock.sleep)
    http = HttpClient("stooq", retries=2, rate_limiter=bucket, sleep=lambda s: None, rng=random.Random(1))
    http.get(server.base_url + STOOQ_AAPL)
    http.get(server.base_url + STOOQ_AAPL)
    assert server.count() == 3
    assert clock.slept == [1.0, 1.0]  # first attempt free, then one second per request
