"""The Dagster assets by domain: :mod:`.daily` (provider bars to indicators) and :mod:`.dbt` (the serving marts)."""
