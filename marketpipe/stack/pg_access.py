"""Who may connect to the local PostgreSQL and what they may do: access rules and the read-only BI role.

Every connection authenticates (docs/security.md): ``pg_hba.conf`` asks for a SCRAM password over TCP
and over the socket, except that the superuser logs in over the socket by ``peer`` authentication,
mapped (``pg_ident.conf``) only from the OS users that run the server and marketpipe. Written and
applied by :class:`marketpipe.stack.postgres.PostgresService`.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from marketpipe.exceptions import ServiceError
from marketpipe.settings import Settings

SUPERUSER = "postgres"
# The schema dbt builds its marts in (dbt_project/macros/generate_schema_name.sql); the BI role reads it.
MARTS_SCHEMA = "marts"
# pg_ident.conf map of the OS users that may log in as the superuser over the socket.
IDENT_MAP = "marketpipe"
# Large-object functions that create objects (or read/write server files); PUBLIC may run the first
# three by default, which would let a read-only role write. Nothing in the pipeline uses large objects.
LARGE_OBJECT_FUNCTIONS = (
    "lo_from_bytea(oid, bytea)",
    "lo_create(oid)",
    "lo_creat(integer)",
    "lo_import(text)",
    "lo_import(text, oid)",
    "lo_export(oid, text)",
)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def provision_bi_role(conn: psycopg.Connection[tuple[object, ...]], settings: Settings) -> None:
    """Create (or reset) the read-only BI login: CONNECT, and SELECT on the ``marts`` schema only.

    Runs as the superuser over the cluster's socket because the app role may not create roles.
    The role owns nothing and gets no grant on ``public`` or ``staging``; SELECT on tables dbt
    creates in ``marts`` later comes from the app role's default privileges (dbt also grants on
    every run, see dbt_project/macros/grant_marts_to_bi.sql). PostgreSQL 15 already denies
    CREATE on ``public`` to PUBLIC; TEMPORARY is revoked here, and so is EXECUTE on the functions
    that create large objects (:data:`LARGE_OBJECT_FUNCTIONS`), so the role cannot write at all.
    Read-only by default transaction is a second guard, not the boundary (a session may unset it).
    """
    s = settings
    bi, app = sql.Identifier(s.bi_user), sql.Identifier(s.postgres_user)
    db, marts = sql.Identifier(s.postgres_db), sql.Identifier(MARTS_SCHEMA)
    lo_functions = sql.SQL(", ").join(sql.SQL(f) for f in LARGE_OBJECT_FUNCTIONS)
    try:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (s.bi_user,)).fetchone()
        conn.execute(
            sql.SQL(
                "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION "
                "NOBYPASSRLS PASSWORD {}"
            ).format(
                sql.SQL("ALTER" if exists else "CREATE"),
                bi,
                sql.Literal(scram_verifier(conn, s.bi_user, s.bi_password.get_secret_value())),
            )
        )
        for stmt in (
            "ALTER ROLE {bi} SET default_transaction_read_only = on",
            "ALTER ROLE {bi} SET search_path = {marts}",
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            "REVOKE EXECUTE ON FUNCTION {lo} FROM PUBLIC",
            "GRANT CONNECT ON DATABASE {db} TO {bi}",
            "CREATE SCHEMA IF NOT EXISTS {marts} AUTHORIZATION {app}",
            "GRANT USAGE ON SCHEMA {marts} TO {bi}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA {marts} TO {bi}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {app} IN SCHEMA {marts} "
            "GRANT SELECT ON TABLES TO {bi}",
        ):
            conn.execute(sql.SQL(stmt).format(bi=bi, app=app, db=db, marts=marts, lo=lo_functions))
    except psycopg.Error as exc:
        raise ServiceError(f"postgres: provisioning the BI role {s.bi_user} failed: {exc}") from exc


def hba_conf(host: str) -> str:
    """``pg_hba.conf``: a SCRAM password everywhere, except the superuser on the socket (``peer``).

    The superuser has no password, so it cannot log in over TCP at all; rejecting it there says so.
    TCP is accepted from loopback only when the server listens on loopback (the local stack).
    """
    addresses = ["127.0.0.1/32", "::1/128"] if host in _LOOPBACK or host.startswith("127.") else ["all"]
    rows = [
        ("local", "all", SUPERUSER, "", f"peer map={IDENT_MAP}"),
        ("local", "all", "all", "", "scram-sha-256"),
        *(("host", "all", SUPERUSER, a, "reject") for a in addresses),
        *(("host", "all", "all", a, "scram-sha-256") for a in addresses),
    ]
    lines = [f"{t:<7} {d:<5} {u:<10} {a:<14} {m}".rstrip() for t, d, u, a, m in rows]
    return (
        "# Written by marketpipe on every start (marketpipe/stack/postgres.py, docs/security.md).\n"
        "# TYPE DATABASE USER      ADDRESS        METHOD\n" + "\n".join(lines) + "\n"
    )


def ident_conf(os_users: Iterable[str]) -> str:
    """``pg_ident.conf``: the OS users that may log in as the superuser by ``peer``."""
    lines = [f"{IDENT_MAP} {u} {SUPERUSER}" for u in dict.fromkeys(os_users)]
    return (
        "# Written by marketpipe on every start: OS users that may be the superuser over the socket.\n"
        "# MAPNAME SYSTEM-USERNAME PG-USERNAME\n" + "\n".join(lines) + "\n"
    )


def scram_verifier(conn: psycopg.Connection[tuple[object, ...]], user: str, password: str) -> str:
    """The SCRAM verifier of ``password``, computed by libpq on the client.

    The clear text never reaches the server, whose log would otherwise show it in a failed
    ``ALTER ROLE ... PASSWORD`` statement (and pg_stat_activity while it runs).
    """
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()
