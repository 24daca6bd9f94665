"""Render the ``flink_sql/`` files and turn them into Flink statements, in file order.

The SQL files hold the pipeline; this module only fills ``{{variables}}`` from :class:`Settings`
(connector options that differ between the local stack and production live there, not in copies
of the SQL) and splits each file into statements. A comment line of the form::

    -- @python <new_view>[, <more_views>...] = <module>:<function>(<input_view>)

marks the one step that is not SQL: ``function(t_env, input_table)`` is called and its result
registered as ``new_view`` for the files that follow (a function with more outputs returns a tuple of
tables, one per view named, in order: nothing is registered that the SQL does not name). The first line of each file,
``-- @jobs: <job>, ...``, says which jobs run it (:func:`job_files`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from marketpipe.contracts.schemas import flink_value_options
from marketpipe.exceptions import ConfigError
from marketpipe.kafka_security import flink_table_options
from marketpipe.rules.ticks import SYMBOL_PATTERN, TickRules
from marketpipe.settings import REPO_ROOT, Settings
from udfs.schema import flink_variables

SQL_DIR = REPO_ROOT / "flink_sql"
# Kafka transactions of the exactly-once sinks: below the broker's transaction.max.timeout.ms (15 min
# by default) and far above a checkpoint interval plus a restart.
KAFKA_TRANSACTION_TIMEOUT_MS = 600_000

_VAR = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_BRIDGE = re.compile(
    r"^--\s*@python\s+(?P<views>\w+(?:\s*,\s*\w+)*)\s*=\s*(?P<module>[\w.]+):(?P<func>\w+)\((?P<input>\w+)\)\s*$"
)


@dataclass(frozen=True)
class Bridge:
    """A Python step between SQL views (see the module docstring)."""

    view: str
    module: str
    function: str
    input_view: str
    more_views: tuple[str, ...] = ()  # the function's further outputs, in order (e.g. ticks_unbarred)

    @property
    def views(self) -> tuple[str, ...]:
        """Every view the step registers, in the order of the function's outputs."""
        return (self.view, *self.more_views)


@dataclass(frozen=True)
class Statement:
    """One SQL statement (or bridge) and where it came from."""

    file: str
    line: int
    sql: str
    bridge: Bridge | None = None

    @property
    def is_insert(self) -> bool:
        """True for ``INSERT`` statements, which go into the job's statement set."""
        return self.bridge is None and self.sql.lstrip().upper().startswith("INSERT")


def template_variables(settings: Settings) -> dict[str, str]:
    """Values for ``{{name}}`` placeholders in ``flink_sql/``.

    Besides the settings: each row's columns and key from :mod:`udfs.schema` (``{{bar_columns_ddl}}``,
    ``{{bar_columns}}``, ``{{bar_key}}``, ..., :func:`udfs.schema.flink_variables`) and
    ``{{jdbc_sink_options}}``, the options every PostgreSQL sink shares (all but its ``table-name``);
    ``{{kafka_sink_options}}`` likewise for every Kafka sink (all but its topic, transactional id and formats),
    ``{{kafka_source_options}}`` for every Kafka source (all but its topic, group and formats), and
    ``{{keyed_value_<topic>}}``, the key and value formats of each contract topic (``clean``, ``bars``,
    ``rollups``, ``signals``; ``bars_source`` reads ``bars``).
    """
    rules = TickRules.from_settings(settings)
    variables = {
        "iceberg_catalog": settings.iceberg_catalog,
        "jdbc_url": settings.jdbc_url,
        # The JDBC sinks: pgjdbc sends a flushed batch of upserts as multi-row INSERTs, not one per row.
        "jdbc_sink_url": settings.jdbc_url + ("&" if "?" in settings.jdbc_url else "?") + "reWriteBatchedInserts=true",
        "postgres_user": settings.postgres_user,
        "postgres_password": settings.postgres_password.get_secret_value(),
        "warehouse_uri": settings.warehouse_dir.resolve().as_uri(),
        "kafka_bootstrap": settings.kafka_bootstrap,
        # TLS/SASL options of every Kafka table ('' for PLAINTEXT); they hold the SASL password.
        "kafka_security_options": flink_table_options(settings),
        "topic_raw": settings.topic_raw,
        "topic_clean": settings.topic_clean,
        "topic_dlq": settings.topic_dlq,
        "topic_rollups": settings.topic_rollups,
        "topic_bars": settings.topic_bars,
        "topic_signals": settings.topic_signals,
        "watermark_delay_s": rules.watermark_delay_s,
        "jdbc_flush_interval_ms": str(settings.jdbc_flush_interval_ms),
        "timeframe": settings.indicator_timeframe,
        "pg_schema": settings.postgres_schema,
        "lake_gold": settings.lake_gold,
        "backfill_path": str(settings.backfill_path or ""),
        # The cleaning bounds (11_ticks_clean.sql), as their Python mirror marketpipe.rules.ticks reads them.
        "min_event_time_ms": str(rules.min_event_time_ms),
        "max_future_s": str(settings.max_future_s),
        "symbol_pattern": SYMBOL_PATTERN,
        "max_price": repr(float(settings.max_price)),
        "max_size": str(settings.max_size),
        "max_record_bytes": str(settings.max_record_bytes),
        "dlq_payload_chars": str(settings.dlq_payload_chars),
        "kafka_transaction_timeout_ms": str(KAFKA_TRANSACTION_TIMEOUT_MS),
        **flink_variables(),
    }
    # The contract topics: keyed by symbol (raw UTF-8), every column in the value, which is avro-confluent
    # with the registered schema (or JSON without a registry, marketpipe.contracts).
    for name, topic, sink in (
        ("clean", settings.topic_clean, True),
        ("bars", settings.topic_bars, True),
        ("rollups", settings.topic_rollups, True),
        ("signals", settings.topic_signals, True),
        ("bars_source", settings.topic_bars, False),
    ):
        variables[f"keyed_value_{name}"] = (
            "'key.format' = 'raw', 'key.fields' = 'symbol', "
            f"{flink_value_options(settings, topic, sink=sink)}, 'value.fields-include' = 'ALL'"
        )
    # Upserts flushed every jdbc_flush_interval_ms, after 500 rows and on every checkpoint.
    variables["jdbc_sink_options"] = render(
        "'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', "
        "'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}', "
        "'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'",
        variables,
    )
    # Every Kafka source: the security options, and from the earliest offset when the group has none.
    variables["kafka_source_options"] = render(
        "'connector' = 'kafka', 'properties.bootstrap.servers' = '{{kafka_bootstrap}}', "
        "{{kafka_security_options}} 'scan.startup.mode' = 'earliest-offset'",
        variables,
    )
    # Every Kafka sink: exactly once (transactions committed with the checkpoint), the security options,
    # and batching (the producer waits up to 20 ms to fill a batch: one request per batch, not per record).
    variables["kafka_sink_options"] = render(
        "'connector' = 'kafka', 'properties.bootstrap.servers' = '{{kafka_bootstrap}}', "
        "{{kafka_security_options}} "
        "'sink.delivery-guarantee' = 'exactly-once', "
        "'properties.transaction.timeout.ms' = '{{kafka_transaction_timeout_ms}}', "
        "'properties.linger.ms' = '20', 'properties.batch.size' = '262144'",
        variables,
    )
    return variables


def render(text: str, variables: Mapping[str, str], *, source: str = "<sql>") -> str:
    """Fill ``{{name}}`` placeholders; an unknown name is a :class:`ConfigError`, never left in."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in variables:
            raise ConfigError(f"{source}: unknown template variable {{{{{name}}}}}")
        return variables[name]

    return _VAR.sub(sub, text)


def split_statements(text: str, *, source: str = "<sql>") -> Iterator[Statement]:
    """Split SQL text on ``;`` outside strings, quoted identifiers and comments."""
    buf: list[str] = []
    start_line = 1
    line = 1
    i = 0
    n = len(text)
    quote: str | None = None
    while i < n:
        ch = text[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                if i + 1 < n and text[i + 1] == quote:  # '' or `` escape
                    buf.append(text[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in ("'", "`", '"'):
            quote = ch
            buf.append(ch)
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            comment = text[i:end].strip()
            bridge = _BRIDGE.match(comment)
            if bridge:
                views = [v.strip() for v in bridge["views"].split(",")]
                if "".join(buf).strip():
                    raise ConfigError(f"{source}:{line}: @python directive inside a statement")
                yield Statement(
                    source,
                    line,
                    comment,
                    Bridge(views[0], bridge["module"], bridge["func"], bridge["input"], tuple(views[1:])),
                )
                buf = []
            elif comment.startswith("-- @") and not _JOBS_HEADER.match(comment):
                raise ConfigError(f"{source}:{line}: malformed directive {comment!r}")
            i = end
            continue
        elif ch == ";":
            sql = "".join(buf).strip()
            if sql:
                yield Statement(source, start_line, sql)
            buf = []
        else:
            if not "".join(buf).strip() and not ch.isspace():
                start_line = line
            buf.append(ch)
        if ch == "\n":
            line += 1
        i += 1
    if quote:
        raise ConfigError(f"{source}: unterminated {quote} quote")
    rest = "".join(buf).strip()
    if rest:
        raise ConfigError(f"{source}:{start_line}: statement without a terminating ';'")


# The jobs. Each flink_sql/ file says which of them it belongs to in its first line:
#
#     -- @jobs: bars, backfill-ticks
#
# A job runs its files in file-name order (the number before the first `_`), flink_sql/backfill/ included:
# the batch jobs read a file instead of Kafka (backfill/10, backfill/20 in place of 10, 20) and write no
# topic (they are not listed in 14 and 24).
JOBS = ("bars", "indicators", "backfill", "backfill-ticks")
_JOBS_HEADER = re.compile(r"^--\s*@jobs:\s*(?P<jobs>[\w\s,-]+?)\s*$")


def file_jobs(path: Path) -> tuple[str, ...]:
    """The jobs a flink_sql file belongs to, from its ``-- @jobs:`` first line; ConfigError without one."""
    with path.open() as f:
        first = f.readline().strip()
    m = _JOBS_HEADER.match(first)
    if not m:
        raise ConfigError(f"{path}: the first line must name its jobs, e.g. '-- @jobs: bars' (got {first!r})")
    jobs = tuple(j.strip() for j in m["jobs"].split(",") if j.strip())
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        raise ConfigError(f"{path}: unknown job(s) {', '.join(unknown)}; jobs are {', '.join(JOBS)}")
    return jobs


def job_files(job: str, sql_dir: Path = SQL_DIR) -> list[Path]:
    """The ``flink_sql/`` files of ``job`` in the order they run (their ``-- @jobs:`` headers)."""
    if job not in JOBS:
        raise ConfigError(f"unknown job {job!r}; jobs are {', '.join(JOBS)}")
    candidates = [*sql_dir.glob("*.sql"), *sql_dir.glob("*/*.sql")]
    files = sorted((p for p in candidates if job in file_jobs(p)), key=lambda p: (p.name, str(p)))
    if not files:
        raise ConfigError(f"no .sql files for job {job!r} in {sql_dir}")
    names = [p.name for p in files]
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise ConfigError(f"job {job!r} has two files named {', '.join(sorted(clash))} in {sql_dir}")
    return files


def load_statements(settings: Settings, job: str, sql_dir: Path = SQL_DIR) -> list[Statement]:
    """Every statement of ``job``'s files rendered for ``settings``, in file-name order."""
    files = job_files(job, sql_dir)
    variables = template_variables(settings)
    out: list[Statement] = []
    for path in files:
        text = render(path.read_text(), variables, source=path.name)
        out.extend(split_statements(text, source=path.name))
    return out
