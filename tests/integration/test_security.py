"""PostgreSQL access on the real stack (docs/security.md): every login authenticates, the socket is
private, the pipeline role is no superuser, and an old data dir with ``trust`` is fixed by ``start``.

The session stack is queried read-only. The upgrade test runs its own PostgreSQL on a throw-away
data dir under /tmp and a free port, like tests/integration/test_services_smoke.py.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest
from psycopg import errors

from marketpipe.settings import Settings
from marketpipe.stack.postgres import SOCKET_DIR_MODE, SUPERUSER, PostgresService, find_bindir
from tests.integration.test_services_smoke import _free_port

pytestmark = pytest.mark.integration


class _Stack(Protocol):
    settings: Settings


@pytest.fixture(autouse=True)
def _no_ambient_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq must not find a password anywhere but in the call (PGPASSWORD, ~/.pgpass)."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", os.devnull)


def _connect(
    settings: Settings, host: str, user: str, dbname: str | None = None, **kwargs: Any
) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=host, port=settings.postgres_port, dbname=dbname or settings.postgres_db, user=user,
        connect_timeout=5, autocommit=True, **kwargs,
    )


def _superuser(pg: PostgresService, dbname: str = "postgres") -> psycopg.Connection[Any]:
    return pg._superuser_conn(dbname=dbname)


@pytest.mark.parametrize("where", ["tcp", "socket"])
@pytest.mark.parametrize("role", ["app", "bi"])
def test_login_without_password_is_refused(stack: _Stack, role: str, where: str) -> None:
    s = stack.settings
    user = s.postgres_user if role == "app" else s.bi_user
    host = s.host if where == "tcp" else str(PostgresService(s).socket_dir)
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        _connect(s, host, user)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(s, host, user, password="not-the-password")


def test_superuser_cannot_log_in_over_tcp(stack: _Stack) -> None:
    s = stack.settings
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects"):
        _connect(s, s.host, SUPERUSER, dbname="postgres")


def test_hba_rules_loaded_by_the_server_have_no_trust(stack: _Stack) -> None:
    with _superuser(PostgresService(stack.settings)) as conn:
        rules = conn.execute(
            "SELECT type, user_name, auth_method, error FROM pg_hba_file_rules ORDER BY line_number"
        ).fetchall()
    assert rules
    assert all(error is None for *_, error in rules), rules
    assert {method for _, _, method, _ in rules} <= {"scram-sha-256", "peer", "reject"}, rules
    peer = [(kind, users) for kind, users, method, _ in rules if method == "peer"]
    assert peer == [("local", [SUPERUSER])], rules


def test_socket_dir_is_private_to_the_server(stack: _Stack) -> None:
    socket_dir = PostgresService(stack.settings).socket_dir
    st = socket_dir.stat()
    assert stat.S_IMODE(st.st_mode) == SOCKET_DIR_MODE
    assert not st.st_mode & (stat.S_IWOTH | stat.S_IWGRP | stat.S_IXOTH)
    if os.geteuid() == 0:
        assert st.st_uid == pwd.getpwnam(SUPERUSER).pw_uid
        runuser = shutil.which("runuser")
        if runuser is not None:  # another local user cannot even reach the socket
            argv = [runuser, "-u", "nobody", "--", "test", "-x", str(socket_dir)]
            assert subprocess.run(argv, check=False).returncode != 0


def test_pipeline_role_is_least_privilege(stack: _Stack) -> None:
    s = stack.settings
    with psycopg.connect(s.postgres_dsn, autocommit=True) as app:
        flags = app.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()
        assert flags == (False, False, False, False, False)
        # it owns what it writes: the database (schemas public/staging/marts, tables, catalog tables)
        owner = app.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert owner == (s.postgres_user,)
        member_of = app.execute(
            "SELECT array_agg(b.rolname) FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid"
            " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = current_user"
        ).fetchone()
        assert member_of == (None,)
        for statement in (
            "CREATE ROLE mp_probe",
            "CREATE DATABASE mp_probe",
            "ALTER ROLE current_user CREATEDB",
            "SELECT lo_from_bytea(0, 'x')",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(statement)
                pytest.fail(f"the pipeline role may run: {statement}")


def test_bi_role_cannot_connect_to_other_databases(stack: _Stack) -> None:
    s = stack.settings
    for dbname in ("postgres", "template1"):
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            _connect(s, s.host, s.bi_user, dbname=dbname, password=s.bi_password.get_secret_value())


# --- an old data dir (trust on the socket, a world-writable socket dir, CREATEDB) --------------------

OLD_HBA = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"


@pytest.fixture
def private_pg() -> Iterator[PostgresService]:
    if find_bindir() is None:
        pytest.skip("SKIPPED LOUDLY: no PostgreSQL binaries under /usr/lib/postgresql")
    data_dir = Path(tempfile.mkdtemp(prefix="mp-sec-", dir="/tmp"))
    data_dir.chmod(0o755)
    pg = PostgresService(Settings(data_dir=data_dir, postgres_port=_free_port()))
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_start_upgrades_an_old_trusting_data_dir(private_pg: PostgresService) -> None:
    pg, s = private_pg, private_pg.settings
    pg.start()
    pid = pg.status().pid
    # make it look like a data dir of the previous version, with its server still running
    (pg.data_dir / "pg_hba.conf").write_text(OLD_HBA)
    pg.socket_dir.chmod(0o777)
    with _superuser(pg) as conn:
        conn.execute(f'ALTER ROLE "{s.postgres_user}" CREATEDB')
        conn.execute("SELECT pg_reload_conf()")
    with _connect(s, str(pg.socket_dir), s.postgres_user) as conn:  # trust: no password needed
        conn.execute("SELECT 1")

    pg.start()  # what the next `marketpipe stack up` does

    assert pg.status().pid == pid  # reloaded, not restarted
    assert stat.S_IMODE(pg.socket_dir.stat().st_mode) == SOCKET_DIR_MODE
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        _connect(s, str(pg.socket_dir), s.postgres_user)
    with _superuser(pg) as conn:
        methods = {r[0] for r in conn.execute("SELECT auth_method FROM pg_hba_file_rules")}
        assert "trust" not in methods
        flags = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", (s.postgres_user,)
        ).fetchone()
        assert flags == (False, False, False)
    with psycopg.connect(s.postgres_dsn) as conn:  # the app still works, with its password
        conn.execute("SELECT count(*) FROM bars_1m")
