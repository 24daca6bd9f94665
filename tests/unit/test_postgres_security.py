"""The access rules the local PostgreSQL is started with, and where credentials and TLS settings go.

No server runs here: the generated ``pg_hba.conf`` / ``pg_ident.conf`` / ``marketpipe.conf`` text and
the directory permissions are checked as files. tests/integration/test_security.py checks the same
against the running cluster.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from marketpipe.db import display_dsn
from marketpipe.dbt import dbt_env
from marketpipe.settings import Settings, settings_env
from marketpipe.stack.postgres import (
    IDENT_MAP,
    SOCKET_DIR_MODE,
    SUPERUSER,
    PostgresService,
    hba_conf,
    ident_conf,
)


def _rules(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0.0.0.0", "10.1.2.3"])
def test_hba_has_no_trust_and_a_password_everywhere_but_superuser_peer(host: str) -> None:
    text = hba_conf(host)
    assert "trust" not in text
    rules = _rules(text)
    assert rules, text
    for rule in rules:
        kind, user, method = rule[0], rule[2], rule[-1] if rule[0] == "host" else rule[3]
        if kind == "local":
            if user == SUPERUSER:
                assert rule[3:] == ["peer", f"map={IDENT_MAP}"]
            else:
                assert (user, method) == ("all", "scram-sha-256")
        else:
            assert kind == "host"
            # the superuser has no password: it may not even try over TCP
            assert method == ("reject" if user == SUPERUSER else "scram-sha-256")
    # rules match first-hit: the superuser's reject comes before the catch-all password rule
    host_users = [r[2] for r in rules if r[0] == "host"]
    assert host_users.index(SUPERUSER) < host_users.index("all")
    assert [r[0] for r in rules if r[0] == "local"] == ["local", "local"]


def test_hba_accepts_tcp_from_loopback_only_on_a_loopback_stack() -> None:
    addresses = {r[3] for r in _rules(hba_conf("127.0.0.1")) if r[0] == "host"}
    assert addresses == {"127.0.0.1/32", "::1/128"}


def test_ident_maps_only_to_the_superuser() -> None:
    rules = _rules(ident_conf(["postgres", "root", "postgres"]))
    assert rules == [[IDENT_MAP, "postgres", SUPERUSER], [IDENT_MAP, "root", SUPERUSER]]


def test_socket_dir_mode_is_private() -> None:
    assert SOCKET_DIR_MODE & 0o077 == 0
    assert SOCKET_DIR_MODE & 0o700 == 0o700


@pytest.fixture
def service() -> Iterator[PostgresService]:
    """A service on a throw-away data dir the postgres user can traverse (no server is started)."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            pytest.skip("SKIPPED LOUDLY: running as root without a 'postgres' OS user")
    data_dir = Path(tempfile.mkdtemp(prefix="mp-pgsec-", dir="/tmp"))
    data_dir.chmod(0o755)
    try:
        yield PostgresService(Settings(data_dir=data_dir, postgres_port=45999))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_prepare_dirs_closes_a_world_writable_socket_dir(service: PostgresService) -> None:
    service.root.mkdir(parents=True)
    service.socket_dir.mkdir(mode=0o777)
    service.socket_dir.chmod(0o777)  # what an older version (or a umask of 0) left behind
    service._prepare_dirs()
    st = service.socket_dir.stat()
    assert stat.S_IMODE(st.st_mode) == SOCKET_DIR_MODE
    if os.geteuid() == 0:
        assert st.st_uid == pwd.getpwnam(SUPERUSER).pw_uid


def test_write_config_writes_private_access_files_once(service: PostgresService) -> None:
    service.data_dir.mkdir(parents=True)
    (service.data_dir / "pg_hba.conf").write_text("local all all trust\n")  # an old data dir
    assert service._write_config() is True
    assert service._write_config() is False  # unchanged: nothing to reload
    hba = (service.data_dir / "pg_hba.conf").read_text()
    assert hba == hba_conf(service.settings.host)
    conf = (service.data_dir / "marketpipe.conf").read_text()
    assert "password_encryption = 'scram-sha-256'" in conf
    assert f"unix_socket_directories = '{service.socket_dir}'" in conf
    for name in ("pg_hba.conf", "pg_ident.conf", "marketpipe.conf"):
        assert stat.S_IMODE((service.data_dir / name).stat().st_mode) == 0o600


def test_tls_settings_flow_into_dsn_jdbc_url_and_dbt() -> None:
    plain = Settings()
    assert "?" not in plain.postgres_dsn and "?" not in plain.jdbc_url
    assert not any(k.startswith("PGSSL") for k in dbt_env(plain) if k not in os.environ)

    tls = Settings(postgres_sslmode="verify-full", postgres_sslrootcert=Path("/etc/ssl/pg ca.pem"))
    assert tls.postgres_dsn.endswith("?sslmode=verify-full&sslrootcert=/etc/ssl/pg%20ca.pem")
    assert tls.jdbc_url == (
        "jdbc:postgresql://127.0.0.1:15432/marketpipe?sslmode=verify-full&sslrootcert=/etc/ssl/pg%20ca.pem"
    )
    env = dbt_env(tls)
    assert (env["PGSSLMODE"], env["PGSSLROOTCERT"]) == ("verify-full", "/etc/ssl/pg ca.pem")
    # child processes (Flink client, dbt) rebuild the same settings from the environment
    child = settings_env(tls)
    assert child["MARKETPIPE_POSTGRES_SSLMODE"] == "verify-full"
    assert child["MARKETPIPE_POSTGRES_SSLROOTCERT"] == "/etc/ssl/pg ca.pem"


def test_password_is_quoted_in_dsn_and_never_in_what_is_shown() -> None:
    s = Settings(postgres_password="p@ss/w:rd?", postgres_sslmode="require")
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(s.postgres_dsn)["password"] == "p@ss/w:rd?"
    shown = display_dsn(s)
    assert shown == "postgresql://marketpipe@127.0.0.1:15432/marketpipe?sslmode=require"
    assert "p@ss" not in shown and "p%40ss" not in shown
    assert "p@ss" not in s.jdbc_url and "p@ss" not in repr(s)
