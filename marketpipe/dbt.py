"""``make dbt``: run dbt (from its own ``.venv-dbt``) against the stack's PostgreSQL.

dbt lives in a separate virtualenv because dbt-core 1.11 needs protobuf >= 6 and apache-beam (under
apache-flink 2.1.3) needs protobuf < 6. Connection settings come from the one settings model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from marketpipe.exceptions import InstallError
from marketpipe.settings import REPO_ROOT, Settings, load_settings

DBT_PROJECT = REPO_ROOT / "dbt_project"
DBT = REPO_ROOT / ".venv-dbt" / "bin" / "dbt"


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment with the variables ``dbt_project/profiles.yml`` reads."""
    return {
        **os.environ,
        "MARKETPIPE_POSTGRES_HOST": settings.host,
        "MARKETPIPE_POSTGRES_PORT": str(settings.postgres_port),
        "MARKETPIPE_POSTGRES_USER": settings.postgres_user,
        "MARKETPIPE_POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        "MARKETPIPE_POSTGRES_DB": settings.postgres_db,
        # TLS (docs/security.md): libpq under dbt-postgres reads PGSSLMODE / PGSSLROOTCERT.
        **{f"PG{k.upper()}": v for k, v in settings.postgres_ssl_params.items()},
        # dbt grants SELECT on the marts to this role (dbt_project/macros/grant_marts_to_bi.sql).
        "MARKETPIPE_BI_USER": settings.bi_user,
    }


def run_dbt(settings: Settings, args: Sequence[str]) -> int:
    """Run ``dbt ARGS`` on ``dbt_project/``; returns dbt's exit code."""
    if not DBT.exists():
        raise InstallError(f"{DBT} is missing: run `make dbt` (it creates .venv-dbt)")
    argv = [str(DBT), *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)]
    return subprocess.run(argv, env=dbt_env(settings), check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marketpipe.dbt build`` (any dbt arguments)."""
    return run_dbt(load_settings(), list(argv if argv is not None else sys.argv[1:]) or ["build"])


if __name__ == "__main__":
    sys.exit(main())
