"""Dagster resources: every connection setting comes from the one settings model.

:func:`build_resources` turns a :class:`~marketpipe.settings.Settings` into the resources the assets
use, so ``definitions.py`` (``load_settings()``), ``make backfill`` and the tests (the test stack's
settings) wire the same graph to different places. Each resource carries its slice of settings as
Dagster config (visible in the UI's resource view) and rebuilds a ``Settings`` for the library calls
(:mod:`marketpipe.lake`, :mod:`marketpipe.loaders`) that take one.
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from marketpipe.dbt import dbt_env
from marketpipe.settings import REPO_ROOT, Settings, settings_env

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

    from marketpipe.loaders.base import DailyBar, DailyLoader

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


class PostgresResource(ConfigurableResource):
    """The stack's PostgreSQL (serving tables ``daily_bars``, ``indicators_1d``, ``signals``)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str

    @property
    def dsn(self) -> str:
        """The libpq connection URI, ``postgresql://user:password@host:port/dbname``."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def connect(self) -> psycopg.Connection[Any]:
        """A connection in a transaction (commit on clean exit of ``with``)."""
        return psycopg.connect(self.dsn, connect_timeout=10)


class IcebergResource(ConfigurableResource):
    """The lake: pyiceberg over the JDBC catalog the Flink jobs share (same catalog name)."""

    catalog_name: str
    uri: str  # SQLAlchemy URL of the catalog database
    warehouse: str  # file:// URI

    def catalog(self) -> SqlCatalog:
        """The pyiceberg catalog."""
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog(self.catalog_name, uri=self.uri, warehouse=self.warehouse)


class LoaderResource(ConfigurableResource):
    """Which provider daily bars come from, for which symbols (``marketpipe.loaders``)."""

    source: str
    symbols: list[str]
    calendar: str
    file: str | None = None
    stooq_base_url: str
    tiingo_base_url: str
    tiingo_api_key: str | None = None
    timeout_s: float
    retries: int
    rate_limit_per_s: float

    def _settings(self) -> Settings:
        return Settings(
            stooq_base_url=self.stooq_base_url,
            tiingo_base_url=self.tiingo_base_url,
            tiingo_api_key=self.tiingo_api_key,
            loader_timeout_s=self.timeout_s,
            loader_retries=self.retries,
            loader_rate_limit_per_s=self.rate_limit_per_s,
            daily_calendar=self.calendar,
        )

    def loader(self) -> DailyLoader:
        """The configured loader."""
        from marketpipe.loaders import get_loader

        return get_loader(self.source, self._settings(), path=Path(self.file) if self.file else None)

    def load(self, start: date, end: date) -> tuple[list[DailyBar], list[Any]]:
        """Bars of every configured symbol in ``[start, end]`` and the rows the loader rejected."""
        loader = self.loader()
        bars = loader.load(self.symbols, start, end)
        return bars, list(getattr(loader, "last_rejects", []))


class FlinkBackfillResource(ConfigurableResource):
    """``marketpipe backfill`` of the pipeline venv (PyFlink lives there, not in ``.venv-orch``).

    It runs as a subprocess on the running Flink session cluster, so daily indicators and signals are
    computed by the same ``flink_sql/`` files and ``udfs/`` math as the streaming job.
    """

    marketpipe_bin: str
    env: dict[str, str]  # MARKETPIPE_* of the settings (settings_env)
    timeout_s: float = 1800.0

    def run(self, bars_csv: Path, lake_namespace: str) -> dict[str, Any]:
        """Backfill ``bars_csv`` (daily bars) and return the CLI's JSON summary; raise on failure."""
        import json
        import os

        argv = [self.marketpipe_bin, "backfill", "--bars", str(bars_csv), "--timeframe", "1d",
                "--lake-namespace", lake_namespace, "--quiet"]
        proc = subprocess.run(
            argv, env={**os.environ, **self.env}, capture_output=True, text=True,
            timeout=self.timeout_s, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


class MarketpipeDbtResource(DbtCliResource):
    """``DbtCliResource`` that also hands dbt the ``MARKETPIPE_*`` variables
    ``dbt_project/profiles.yml`` reads.

    dagster-dbt passes only ``os.environ`` to the dbt subprocess, and the settings may come from
    ``.env`` or the test stack rather than the environment, so the variables are laid over
    ``os.environ`` for the duration of the call that spawns dbt (the Popen happens inside ``cli``).
    """

    env: dict[str, str] = {}  # noqa: RUF012 - a pydantic field (Dagster resources are models), copied per instance

    def cli(self, args: Any, **kwargs: Any) -> Any:
        """Run ``dbt ARGS`` with this resource's connection variables."""
        import os

        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return super().cli(args, **kwargs)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class SodaResource(ConfigurableResource):
    """Where Soda scans connect (the data source is generated from these, never stored)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str
    calendar: str

    def settings(self) -> Settings:
        """Settings for :mod:`orchestration.quality`."""
        from pydantic import SecretStr

        return Settings(postgres_host=self.host, postgres_port=self.port, postgres_db=self.dbname,
                        postgres_user=self.user, postgres_password=SecretStr(self.password),
                        daily_calendar=self.calendar)


def iceberg_uri(settings: Settings) -> str:
    """SQLAlchemy URL of the Iceberg JDBC catalog (the same database as the serving tables)."""
    pw = settings.postgres_password.get_secret_value()
    host = settings.postgres_host or settings.host
    return f"postgresql+psycopg2://{settings.postgres_user}:{pw}@{host}:{settings.postgres_port}/{settings.postgres_db}"


def build_resources(settings: Settings, *, dbt_target_dir: Path | None = None) -> dict[str, Any]:
    """All resources of the graph, from one settings object."""
    pg = {
        "host": settings.postgres_host or settings.host,
        "port": settings.postgres_port,
        "dbname": settings.postgres_db,
        "user": settings.postgres_user,
        "password": settings.postgres_password.get_secret_value(),
    }
    key = settings.tiingo_api_key
    return {
        "postgres": PostgresResource(**pg),
        "iceberg": IcebergResource(
            catalog_name=settings.iceberg_catalog,
            uri=iceberg_uri(settings),
            warehouse=settings.warehouse_dir.resolve().as_uri(),
        ),
        "loader": LoaderResource(
            source=settings.daily_source,
            symbols=settings.daily_symbol_list,
            calendar=settings.daily_calendar,
            file=str(settings.daily_file) if settings.daily_file else None,
            stooq_base_url=settings.stooq_base_url,
            tiingo_base_url=settings.tiingo_base_url,
            tiingo_api_key=key.get_secret_value() if key else None,
            timeout_s=settings.loader_timeout_s,
            retries=settings.loader_retries,
            rate_limit_per_s=settings.loader_rate_limit_per_s,
        ),
        "flink_backfill": FlinkBackfillResource(
            marketpipe_bin=str(REPO_ROOT / ".venv" / "bin" / "marketpipe"),
            env=settings_env(settings),
        ),
        "soda": SodaResource(**pg, calendar=settings.daily_calendar),
        "dbt": MarketpipeDbtResource(
            env={k: v for k, v in dbt_env(settings).items() if k.startswith("MARKETPIPE_")},
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=str(REPO_ROOT / ".venv-orch" / "bin" / "dbt"),
        ),
    }
