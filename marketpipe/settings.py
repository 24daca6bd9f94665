"""One configuration surface: environment variables (``MARKETPIPE_*``) plus an optional ``.env`` file.

Secrets may also come from files outside the repository: a file ``/run/secrets/marketpipe_<name>``
(Docker/Kubernetes secrets, e.g. ``marketpipe_postgres_password``) is read when that directory exists.

The same :class:`Settings` object feeds the CLI, the stack launcher, the Flink job parameters
(rendered into ``flink_sql/`` templates), dbt profiles and tests. Nothing else reads ``os.environ``.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# Mounted secrets (docker-compose `secrets:`, Kubernetes): one file per field, named like its variable.
SECRETS_DIR = Path("/run/secrets")
# An optional setting given as an empty string (docker-compose's `${VAR:-}`) is unset, not "".
_EmptyIsUnset = BeforeValidator(lambda value: None if value == "" else value)


class Settings(BaseSettings):
    """Settings of the local stack and the pipeline; every field is ``MARKETPIPE_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="MARKETPIPE_",
        env_file=str(REPO_ROOT / ".env"),
        extra="ignore",
        frozen=True,
        # An empty variable (docker compose passes `${VAR:-}` as "") means unset: the default or a
        # secrets file applies.
        env_ignore_empty=True,
        # Only when present: pydantic-settings warns about a missing secrets directory.
        secrets_dir=str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None,
    )

    # Where everything the stack writes lives (data dirs, logs, pid files, checkpoints, warehouse).
    data_dir: Path = Field(default=REPO_ROOT / ".data")
    # Loopback only: everything we start listens here.
    host: str = "127.0.0.1"
    # Where clients find each service when they are not all on `host` (docker-compose: one host per
    # service). Each falls back to `host`.
    kafka_host: str | None = None
    postgres_host: str | None = None
    flink_host: str | None = None
    # A deployment's own Flink distribution for `bin/flink run` (the local stack composes one).
    flink_home: Path | None = None

    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_partitions: int = 3
    kafka_heap: str = "512m"
    # TLS and SASL to an external Kafka cluster (docs/security.md); the local broker stays PLAINTEXT on
    # loopback. Rendered for every client by marketpipe.kafka_security (Flink SQL options, librdkafka).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Annotated[
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None, _EmptyIsUnset
    ] = None
    kafka_sasl_username: Annotated[str | None, _EmptyIsUnset] = None
    kafka_sasl_password: Annotated[SecretStr | None, _EmptyIsUnset] = None
    kafka_ssl_ca_file: Annotated[Path | None, _EmptyIsUnset] = None  # PEM CA bundle that verifies the brokers

    postgres_port: int = 15432
    postgres_db: str = "marketpipe"
    postgres_user: str = "marketpipe"
    postgres_password: SecretStr = SecretStr("marketpipe")
    # Read-only login for BI tools: SELECT on the dbt marts schema only (docs/serving.md).
    bi_user: str = "marketpipe_bi"
    bi_password: SecretStr = SecretStr("marketpipe_bi")
    # TLS to PostgreSQL (docs/security.md): libpq's sslmode (disable, allow, prefer, require, verify-ca,
    # verify-full) and the CA bundle that verifies the server. Unset = the client's default (libpq and
    # pgjdbc: prefer); the local stack has no TLS. Both go into postgres_dsn, jdbc_url and dbt.
    postgres_sslmode: (
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None
    ) = None
    postgres_sslrootcert: Path | None = None

    flink_rest_port: int = 18081
    flink_rpc_port: int = 16123
    flink_taskmanager_slots: int = 4
    flink_parallelism: int = 1
    flink_jobmanager_memory: str = "1024m"
    flink_taskmanager_memory: str = "2560m"
    # `stack up` starts a supervisor that restarts a dead taskmanager/jobmanager and resumes the jobs.
    supervise: bool = True

    # Pipeline behaviour (rendered into flink_sql/ templates).
    checkpoint_interval_ms: int = 5000
    watermark_delay_ms: int = 2000
    source_idle_timeout_ms: int = 0  # 0 = off; our producers heartbeat every partition
    jdbc_flush_interval_ms: int = 1000
    iceberg_catalog: str = "lake"
    # Bar timeframe the indicators job reads (topic bars.1m today); backfills pass their own.
    indicator_timeframe: str = "1m"
    # Indicator periods that differ from TA-Lib's defaults, e.g. {"rsi": 9} (udfs.IndicatorConfig);
    # JSON in MARKETPIPE_INDICATOR_PERIODS. Column names keep their default-period names.
    indicator_periods: dict[str, float] = Field(default_factory=dict)
    # Where indicator/signal sinks write: a PostgreSQL schema and the lake's gold namespace.
    postgres_schema: str = "public"
    lake_gold: str = "gold"
    # The canonical bars file of a backfill run (set by `marketpipe backfill`, not by users).
    backfill_path: Path | None = None

    # Tick validity (flink_sql/10-11, docs/ticks.md): a record outside these bounds is dead-lettered
    # with a specific reason instead of reaching the bars. Event times outside
    # [min_event_time, wall clock + max_future_s] never move the watermark.
    min_event_time: date = date(1990, 1, 2)  # exchange_calendars' first session
    max_future_s: int = 86_400  # how far ahead of the wall clock an event time (or heartbeat) may be
    max_price: float = 10_000_000.0  # exclusive; prices must be finite, positive and below this
    max_size: int = 100_000_000  # shares in one trade, inclusive
    max_record_bytes: int = 16_384  # a raw record longer than this (characters) is `oversize`
    dlq_payload_chars: int = 4_096  # dead letters keep at most this much of the payload
    # A trade more than this fraction away from the median of the symbol's last 5 prices in the same
    # session day is dead-lettered as `price_outlier` (docs/bars.md); 0 turns the rule off.
    bars_outlier_fraction: float = 0.3
    # A trade with a sale condition the table does not list: dead_letter (unknown_condition) or
    # volume_only (the table's '*' row).
    bars_unknown_conditions: str = "dead_letter"
    # Which engine builds the streaming bars: java (the JVM port in jvm/udfs, no per-tick Python) or
    # python (udfs/bars, the reference, ~100x slower in the job). Both give the same rows (tested).
    bars_engine: Literal["java", "python"] = "java"

    # Bar rules (docs/bars.md). Grace: how long after a bar was emitted a late tick still revises it.
    bars_grace_ms: int = 60_000
    bars_empty_minutes: str = "none"  # none | flat (a flat bar at the previous close)
    bars_ineligible_minutes: str = "previous_close"  # previous_close | carry (into the previous bar)
    bars_extended_hours: bool = True  # build pre/post-market bars (else those trades are dead-lettered)
    bars_pre_open: str = "04:00"  # exchange local time
    bars_post_close: str = "20:00"
    bars_closing_print_wait_ms: int = 60_000  # how long the last regular bar waits for the closing print
    # Sale-condition table: a shipped one by name (cta_utp) or a CSV path (docs/conditions.md).
    conditions_table: str = "cta_utp"
    # Per feed (the tick's `source` field), e.g. {"vendor_x": "/etc/marketpipe/x_conditions.csv"}; JSON.
    conditions_tables_by_feed: dict[str, str] = Field(default_factory=dict)
    # Symbol reference (symbol -> listing exchange, calendar): empty = the shipped table.
    symbols_file: Path | None = None
    calendar: str = "XNYS"  # exchange calendar of symbols the reference does not list

    # Daily OHLCV loaders (marketpipe.loaders, docs/loaders.md).
    stooq_base_url: str = "https://stooq.com"
    tiingo_base_url: str = "https://api.tiingo.com"
    tiingo_api_key: SecretStr | None = None
    loader_timeout_s: float = 30.0  # per HTTP request
    loader_retries: int = 3  # extra attempts after the first, on timeouts, 429 and 5xx
    loader_rate_limit_per_s: float = 1.0  # requests per second per loader; 0 = unlimited
    daily_calendar: str = "XNYS"  # exchange_calendars name: trading days and session opens

    # Batch daily OHLCV orchestrated by Dagster (orchestration/, docs/orchestration.md).
    daily_source: str = "stooq"  # stooq, tiingo or file (then daily_file)
    daily_file: Path | None = None  # CSV/Parquet of daily bars for the file source
    daily_symbols: str = "AAPL,MSFT,SPY"  # comma-separated
    daily_start: date = date(2024, 1, 2)  # first trading-date partition
    dagster_port: int = 13000  # `make ui`: the Dagster web UI on host:port

    # Monitoring (docs/monitoring.md): `stack up` starts Prometheus, Alertmanager, the PostgreSQL
    # exporter, a JMX exporter agent in the Kafka broker and marketpipe's own exporter (Flink REST
    # metrics, consumer lag, pipeline SLIs), all on `host`. Feeds serve their own /metrics on an
    # ephemeral port and register it with Prometheus through a file in run_dir/prometheus/targets.
    monitoring: bool = True
    # Where our own HTTP servers (metrics exporter, feed metrics, chart) listen; unset = `host`
    # (loopback). Containers set 0.0.0.0 so other containers can scrape them (docker-compose.yml).
    bind_host: str | None = None
    # Port of a feed's /metrics: 0 = one the kernel picks, registered by file discovery; a container
    # sets a fixed one that its Prometheus config names (docker-compose.yml).
    feed_metrics_port: int = 0
    # Where clients (the chart's health panel) find Prometheus when it is not on `host` (compose).
    prometheus_host: str | None = None
    prometheus_port: int = 19090
    alertmanager_port: int = 19095
    postgres_exporter_port: int = 19187
    kafka_jmx_exporter_port: int = 19404
    metrics_port: int = 19400  # marketpipe's exporter (`marketpipe metrics serve`)
    scrape_interval_s: float = 5.0
    # Alert thresholds (rendered into the Prometheus rules).
    alert_no_bar_minutes: int = 5  # a symbol with no bar for this long during its session
    alert_dead_letter_per_s: float = 5.0  # dead letters per second, over 1 minute
    # A consumer group's summed lag must exceed this (records) before its growth alerts.
    alert_consumer_lag_floor: int = 10_000
    # The candlestick view (`marketpipe chart`, `make chart`).
    chart_port: int = 18050

    # Schema registry (docs/contracts.md): `stack up` starts a Confluent-compatible registry (Apicurio) and
    # registers the topic contracts (marketpipe.contracts); ticks.clean, bars.1m, bars.rollups and signals
    # then carry Avro written by Flink's avro-confluent format. Off: those topics stay JSON and nothing
    # is registered (for a deployment without a registry). The host is where clients find it when it is
    # not on `host` (compose).
    schema_registry: bool = True
    schema_registry_host: Annotated[str | None, _EmptyIsUnset] = None
    schema_registry_port: int = 18085

    @property
    def schema_registry_url(self) -> str:
        """Base URL of the registry's Confluent-compatible API (Confluent clients, ``avro-confluent.url``)."""
        return f"http://{self.schema_registry_host or self.host}:{self.schema_registry_port}/apis/ccompat/v7"

    # Topics.
    topic_raw: str = "ticks.raw"
    topic_clean: str = "ticks.clean"
    topic_dlq: str = "ticks.dlq"
    topic_bars: str = "bars.1m"
    topic_rollups: str = "bars.rollups"
    topic_signals: str = "signals"

    # Feeds and their producer (docs/ticks.md). A broker outage shorter than the delivery timeout is
    # ridden out: librdkafka retries every queued message until then, idempotence keeps order and
    # drops duplicates; the local queue is bounded so a long outage pauses the feed, not the memory.
    producer_delivery_timeout_ms: int = 300_000  # librdkafka message.timeout.ms (delivery.timeout.ms)
    producer_buffer_messages: int = 100_000  # queue.buffering.max.messages
    producer_buffer_kbytes: int = 65_536  # queue.buffering.max.kbytes
    heartbeat_interval_s: float = 1.0  # wall seconds between heartbeats to every partition while streaming
    heartbeat_every_ticks: int = 10_000  # ... and at least one heartbeat round per this many ticks

    # Collectors (`marketpipe collect`, docs/collectors.md): live trades from a provider's websocket.
    # Credentials only from here (environment, .env or /run/secrets/marketpipe_<name>), never argv.
    alpaca_api_key: Annotated[SecretStr | None, _EmptyIsUnset] = None
    alpaca_api_secret: Annotated[SecretStr | None, _EmptyIsUnset] = None
    massive_api_key: Annotated[SecretStr | None, _EmptyIsUnset] = None
    collector_stall_s: float = 60.0  # no message for this long while subscribed: reconnect (0 = off)
    collector_buffer_messages: int = 10_000  # ticks between the socket reader and Kafka; full = stop reading
    collector_backoff_min_s: float = 0.5  # reconnect back-off: exponential from here, with jitter ...
    collector_backoff_max_s: float = 30.0  # ... up to here
    collector_dedup_per_symbol: int = 512  # trade ids remembered per symbol to drop resent trades
    collector_status_interval_s: float = 10.0  # wall seconds between status lines

    @property
    def kafka_bootstrap(self) -> str:
        """``host:port`` of the Kafka broker."""
        return f"{self.kafka_host or self.host}:{self.kafka_port}"

    @property
    def postgres_ssl_params(self) -> dict[str, str]:
        """The TLS connection parameters that are set (same names in libpq and pgjdbc)."""
        params: dict[str, str] = {}
        if self.postgres_sslmode is not None:
            params["sslmode"] = self.postgres_sslmode
        if self.postgres_sslrootcert is not None:
            params["sslrootcert"] = str(self.postgres_sslrootcert)
        return params

    @property
    def postgres_dsn(self) -> str:
        """Libpq DSN (psycopg, psql, dbt). It holds the password: connect with it, never print it."""
        pw = quote(self.postgres_password.get_secret_value(), safe="")
        query = urlencode(self.postgres_ssl_params, safe="/", quote_via=quote)
        return (
            f"postgresql://{quote(self.postgres_user, safe='')}:{pw}@{self.postgres_host or self.host}:"
            f"{self.postgres_port}/{self.postgres_db}" + (f"?{query}" if query else "")
        )

    @property
    def jdbc_url(self) -> str:
        """JDBC URL of the same database (Flink JDBC sink, Iceberg JDBC catalog); no credentials."""
        query = urlencode(self.postgres_ssl_params, safe="/", quote_via=quote)
        return (
            f"jdbc:postgresql://{self.postgres_host or self.host}:{self.postgres_port}/{self.postgres_db}"
            + (f"?{query}" if query else "")
        )

    @property
    def flink_rest_url(self) -> str:
        """Base URL of the Flink REST API and web UI."""
        return f"http://{self.flink_host or self.host}:{self.flink_rest_port}"

    @property
    def listen_host(self) -> str:
        """The address our HTTP servers bind: ``bind_host``, else ``host``."""
        return self.bind_host or self.host

    @property
    def prometheus_url(self) -> str:
        """Base URL of the Prometheus HTTP API and web UI."""
        return f"http://{self.prometheus_host or self.host}:{self.prometheus_port}"

    @property
    def warehouse_dir(self) -> Path:
        """Local ``file://`` warehouse of the Iceberg catalog."""
        return self.data_dir / "warehouse"

    @property
    def run_dir(self) -> Path:
        """Pid files and stack state."""
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        """Service logs."""
        return self.data_dir / "logs"

    @property
    def jvm_dir(self) -> Path:
        """Where ``mvn package`` leaves the jars (``jvm/<module>/target/lib``)."""
        return REPO_ROOT / "jvm"

    @property
    def daily_symbol_list(self) -> list[str]:
        """``daily_symbols`` as a list (upper-case, blanks dropped)."""
        return [s.strip().upper() for s in self.daily_symbols.split(",") if s.strip()]

    @property
    def topics(self) -> list[str]:
        """Every topic the pipeline reads or writes."""
        return [
            self.topic_raw, self.topic_clean, self.topic_dlq, self.topic_bars, self.topic_rollups,
            self.topic_signals,
        ]


def settings_env(settings: Settings) -> dict[str, str]:
    """``MARKETPIPE_*`` variables reproducing ``settings`` in a child process (flink client, dbt)."""
    out: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict):
            value = json.dumps(value)
        out[f"MARKETPIPE_{name.upper()}"] = str(value)
    return out


def load_settings() -> Settings:
    """Settings from the environment and ``.env``."""
    return Settings()
