"""The PostgreSQL server binaries: found under ``/usr/lib/postgresql``, installed with apt-get when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from marketpipe.exceptions import InstallError

PREFERRED_MAJOR = "15"
BIN_ROOT = Path("/usr/lib/postgresql")
ETC_ROOT = Path("/etc/postgresql")


def find_bindir() -> Path | None:
    """``/usr/lib/postgresql/<major>/bin`` with a server binary, preferring 15, else the newest."""
    candidates = sorted(
        (p for p in BIN_ROOT.glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: (p.parent.name == PREFERRED_MAJOR, _major(p)),
    )
    return candidates[-1] if candidates else None


def ensure_bindir() -> Path:
    """:func:`find_bindir`, installing Debian's ``postgresql`` package first when nothing is found."""
    bindir = find_bindir()
    if bindir is None:
        _install_postgresql()
        bindir = find_bindir()
    if bindir is None:
        raise InstallError(f"apt-get installed postgresql but no server binaries appeared under {BIN_ROOT}")
    return bindir


def _install_postgresql() -> None:
    """``apt-get install postgresql``, then stop and park the system cluster that the package creates.

    Debian's postinst creates a ``main`` cluster and starts it on 5432 (and on every boot). We run our
    own cluster on our own port and data dir, so that second server would only hold memory and the
    default port. We park it only when this call did the installing: a cluster that was already
    there belongs to someone else.
    """
    if os.geteuid() != 0:
        raise InstallError(
            f"PostgreSQL server binaries not found under {BIN_ROOT}; install them as root "
            "(apt-get install -y postgresql) and run again"
        )
    if shutil.which("apt-get") is None:
        raise InstallError(
            f"PostgreSQL not found under {BIN_ROOT} and apt-get is not available to install it"
        )
    before = set(ETC_ROOT.glob("*/*"))
    for args in (["update"], ["install", "-y", "postgresql"]):
        proc = subprocess.run(
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", *args],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise InstallError(f"apt-get {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    for cluster in sorted(set(ETC_ROOT.glob("*/*")) - before):
        version, name = cluster.parent.name, cluster.name
        subprocess.run(["pg_ctlcluster", version, name, "stop"], capture_output=True, check=False)
        (cluster / "start.conf").write_text(
            "# Set to manual by marketpipe, which runs its own cluster;"
            " see marketpipe/stack/postgres.py.\nmanual\n"
        )


def _major(bindir: Path) -> float:
    try:
        return float(bindir.parent.name)
    except ValueError:
        return 0.0
