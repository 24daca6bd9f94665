"""The bar rules and reference files travel from the settings to the engine (marketpipe.rules.bar_config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketpipe.exceptions import ConfigError
from marketpipe.rules.bar_config import bar_config
from marketpipe.settings import Settings
from udfs.bars.config import Reference
from udfs.market.conditions import ConditionTable

TABLE = (
    "code,session,updates_open_close,updates_high_low,updates_volume,is_opening_print,is_closing_print,"
    "is_official_report,description\n@,all,true,true,true,false,false,false,regular\n"
)


def test_settings_reach_the_engine(tmp_path: Path) -> None:
    table = tmp_path / "vendor.csv"
    table.write_text(TABLE)
    settings = Settings(
        bars_grace_ms=5000, bars_empty_minutes="flat", bars_extended_hours=False, bars_pre_open="07:00",
        conditions_tables_by_feed={"vendor": str(table)},
    )
    ref = Reference(bar_config(settings))
    ctx = ref.context("AAPL")
    assert (ctx.rules.grace_ms, ctx.rules.empty_minutes, ctx.rules.extended_hours) == (5000, "flat", False)
    assert ctx.rules.pre_open.hour == 7
    assert ctx.listing_exchange == "Q"  # from the shipped symbol reference
    assert ctx.table("vendor").codes == frozenset({"@"})
    assert ctx.table("other") is ctx.table(None) is ConditionTable.default()


def test_unknown_condition_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a shipped table"):
        bar_config(Settings(conditions_table=str(tmp_path / "missing.csv")))
    with pytest.raises(ConfigError, match="neither a shipped table"):
        bar_config(Settings(conditions_tables_by_feed={"x": "nope"}))


def test_bad_rules_fail_before_the_job_runs() -> None:
    with pytest.raises(ValueError, match="empty_minutes"):
        Reference(bar_config(Settings(bars_empty_minutes="zero")))


def test_the_config_travels_as_json_and_back() -> None:
    """The typed BarConfig, built once from the settings, survives the job configuration's JSON."""
    import json

    from udfs.bars.config import BarConfig

    config = bar_config(Settings(bars_grace_ms=5000, bars_pre_open="07:00", bars_extended_hours=False))
    assert isinstance(config, BarConfig)
    back = BarConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert back == config
    assert config.to_dict()["rules"]["pre_open"] == "07:00"
    assert BarConfig.from_dict({}) == BarConfig()  # a job without configuration: the defaults
