"""The serving domain: every dbt model of ``dbt_project/`` as a Dagster asset (dagster-dbt).

dbt tests become asset checks on their models. dbt sources map onto the assets that write them
(``daily_bars`` -> the ``daily_bars`` asset, ``indicators_1d`` -> ``daily_indicators``, the streamed
tables -> the ``streaming`` group), so the graph shows one lineage from provider to mart.
The manifest is produced with ``dbt parse`` when it is missing or older than the project's files.
"""

# No `from __future__ import annotations`: Dagster reads the context/resource annotations at runtime.

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from marketpipe.settings import REPO_ROOT
from orchestration.resources import DBT_PROJECT_DIR, MarketpipeDbtResource

DBT = REPO_ROOT / ".venv-orch" / "bin" / "dbt"
MANIFEST_DIR = DBT_PROJECT_DIR / "target" / "dagster"
SOURCE_ASSETS = {"indicators_1d": "daily_indicators"}  # dbt source table -> the asset writing it
GROUP = "serving"


def _project_files(root: Path) -> Iterator[Path]:
    yield root / "dbt_project.yml"
    for sub in ("models", "macros", "tests", "seeds", "snapshots"):
        if (root / sub).is_dir():
            yield from (p for p in (root / sub).rglob("*") if p.suffix in (".sql", ".yml", ".yaml", ".csv"))


def ensure_manifest(env: Mapping[str, str] | None = None) -> Path:
    """``manifest.json`` of the dbt project, re-parsed when a project file is newer than it."""
    manifest = MANIFEST_DIR / "manifest.json"
    newest = max((p.stat().st_mtime for p in _project_files(DBT_PROJECT_DIR) if p.exists()), default=0.0)
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return manifest
    proc = subprocess.run(
        [str(DBT), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(MANIFEST_DIR), "--log-path", str(MANIFEST_DIR / "logs"), "--quiet"],
        env={**(env or {}), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "PATH": str(DBT.parent)},
        capture_output=True, text=True, timeout=300, check=False,
    )
    if proc.returncode != 0 or not manifest.exists():
        raise RuntimeError(f"dbt parse failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return manifest


class MarketpipeTranslator(DagsterDbtTranslator):
    """Models keep their names in the ``serving`` group; sources point at the assets that fill them."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        """Source tables are keyed by table name (or the asset that writes them); models by name."""
        if dbt_resource_props["resource_type"] == "source":
            table = dbt_resource_props["name"]
            return AssetKey(SOURCE_ASSETS.get(table, table))
        return AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Every dbt model in ``serving``."""
        return GROUP


def build_dbt_assets(manifest: Path) -> Any:
    """The ``@dbt_assets`` definition over ``manifest`` (``dbt build``: models and their tests)."""

    @dbt_assets(
        manifest=manifest,
        dagster_dbt_translator=MarketpipeTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
        name="dbt_models",
    )
    def dbt_models(context: AssetExecutionContext, dbt: MarketpipeDbtResource) -> Iterator[Any]:
        yield from dbt.cli(["build"], context=context).stream()

    return dbt_models
