"""The bar engine's configuration, built once from the settings (``MARKETPIPE_BARS_*``, the condition
tables, the symbol reference and calendar). Every caller — the Flink job (marketpipe/jobs/pipeline.py),
the replay pre-check, the demo, the monitoring SLIs — gets it here."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from marketpipe.exceptions import ConfigError
from marketpipe.settings import Settings
from udfs.bars.config import BarConfig
from udfs.bars.model import BarRules

SHIPPED_CONDITION_TABLES = {"cta_utp": None}  # name -> path (None: the package's default table)


def bar_config(settings: Settings) -> BarConfig:
    """The bar rules and reference files of ``settings``.

    Raises :class:`ConfigError` for a condition table that is neither shipped nor a file, and
    ValueError for a rule the engine does not know (before any job is built).
    """
    rules = BarRules(
        grace_ms=settings.bars_grace_ms,
        empty_minutes=settings.bars_empty_minutes,
        ineligible_minutes=settings.bars_ineligible_minutes,
        extended_hours=settings.bars_extended_hours,
        pre_open=time.fromisoformat(settings.bars_pre_open),
        post_close=time.fromisoformat(settings.bars_post_close),
        closing_print_wait_ms=settings.bars_closing_print_wait_ms,
        outlier_fraction=settings.bars_outlier_fraction,
        unknown_conditions=settings.bars_unknown_conditions,
    )
    return BarConfig(
        rules=rules,
        conditions_file=_conditions_file(settings.conditions_table),
        feed_conditions_files={
            feed: _conditions_file(table) for feed, table in settings.conditions_tables_by_feed.items()
        },
        symbols_file=str(settings.symbols_file) if settings.symbols_file else None,
        calendar=settings.calendar,
        engine=settings.bars_engine,
        reference_dir=str(settings.data_dir / "reference"),
    )


def _conditions_file(table: str) -> str | None:
    if table in SHIPPED_CONDITION_TABLES:
        return SHIPPED_CONDITION_TABLES[table]
    if not Path(table).is_file():
        raise ConfigError(
            f"conditions table {table!r} is neither a shipped table "
            f"({', '.join(SHIPPED_CONDITION_TABLES)}) nor a file"
        )
    return str(Path(table).resolve())
