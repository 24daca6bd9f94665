"""A private PostgreSQL cluster for the serving tables, run from the distribution's binaries.

The cluster lives in ``<data_dir>/postgres/data`` and listens on ``settings.host:postgres_port``
with its Unix socket in ``<data_dir>/postgres/run``, so it never meets a system cluster on 5432 or
``/var/run/postgresql``. PostgreSQL refuses to run as root; when we are root every server binary
runs as the ``postgres`` user through ``runuser``, otherwise as ourselves.

Every connection authenticates (docs/security.md): ``pg_hba.conf``, rewritten on every start, asks
for a SCRAM password over TCP and over the socket, except that the database superuser ``postgres``
logs in over the socket by ``peer`` authentication, mapped (``pg_ident.conf``) only from the OS users
that run the server and marketpipe, who could read its data files anyway. The socket directory is
private to the server's OS user. The app role owns the database but is no superuser.

Beside this module: :mod:`~marketpipe.stack.pg_access` (the access files and the BI role),
:mod:`~marketpipe.stack.pg_binaries` (finding or installing the server), and
:mod:`~marketpipe.stack.pg_schema` (the serving tables).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from marketpipe.exceptions import InstallError, ServiceError
from marketpipe.settings import Settings
from marketpipe.stack import pg_access, pg_schema, process
from marketpipe.stack.pg_access import IDENT_MAP, SUPERUSER, hba_conf, ident_conf, scram_verifier
from marketpipe.stack.pg_binaries import ensure_bindir, find_bindir
from marketpipe.stack.process import ServiceStatus

__all__ = ["IDENT_MAP", "SUPERUSER", "PostgresService", "ensure_bindir", "find_bindir", "hba_conf", "ident_conf"]

START_TIMEOUT_S = 60.0
# The socket directory: only the server's OS user (and root) may reach the socket in it.
SOCKET_DIR_MODE = 0o700
# sockaddr_un.sun_path is 108 bytes including the NUL; a longer socket path fails at bind().
_MAX_SOCKET_PATH = 107


class PostgresService:
    """Start, stop and check the local PostgreSQL; create the app role, database and tables."""

    name = "postgres"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "postgres"
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "run"
        self.pid_file = settings.run_dir / "postgres.pid"
        self.log_file = settings.log_dir / "postgres.log"

    def start(self) -> None:
        """Initialise (once), start and provision the cluster.

        A cluster of ours that already runs gets its access rules rewritten (and reloaded when they
        changed) and its roles re-provisioned, so a data dir made by an older, laxer version is
        brought up to date by the next ``stack up``. A server we did not start is left alone.
        """
        pid = self._postmaster_pid()
        if pid is None and self._app_ready():
            return
        s = self.settings
        bindir = ensure_bindir()
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bindir)
        changed = self._write_config()
        if pid is not None and changed:
            self._reload()
        if pid is None:
            if process.port_open(s.host, s.postgres_port):
                raise ServiceError(
                    f"postgres: port {s.postgres_port} on {s.host} is taken by a server marketpipe "
                    "did not start; stop it or set MARKETPIPE_POSTGRES_PORT"
                )
            # spawn() records runuser's pid for now; it is replaced by the postmaster's once it is up.
            launcher = process.spawn(
                self._as_postgres([str(bindir / "postgres"), "-D", str(self.data_dir)]),
                pid_file=self.pid_file,
                log_file=self.log_file,
                cwd=self.root,
            )
            process.wait_until(
                self._superuser_ready,
                timeout=START_TIMEOUT_S,
                what=f"postgres on {s.host}:{s.postgres_port}",
                alive=lambda: process.pid_alive(launcher),
                log_file=self.log_file,
            )
            pid = self._postmaster_pid()
        if pid is not None:
            self.pid_file.write_text(f"{pid}\n")
        self._provision()
        self.apply_schema()
        if not self._app_ready():
            raise ServiceError(f"postgres: up, but {s.postgres_user} cannot query {s.postgres_db} over TCP")

    def stop(self) -> bool:
        """Fast shutdown (``pg_ctl stop -m fast``: open sessions are ended); True if a server ran."""
        pid = self._postmaster_pid() or process.read_pid(self.pid_file)
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        bindir = find_bindir()
        if bindir is not None:
            subprocess.run(
                self._as_postgres(
                    [str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"]
                ),
                capture_output=True,
                cwd=self.root,
                timeout=90,
                check=False,
            )
        if process.pid_alive(pid):
            # pg_ctl missing or it gave up: signal the postmaster ourselves (SIGTERM, then SIGKILL).
            self.pid_file.write_text(f"{pid}\n")
            process.stop_pid(self.pid_file, name=self.name)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServiceStatus:
        """Address, postmaster pid and whether the app user can ``SELECT 1`` over TCP."""
        s = self.settings
        pid = self._postmaster_pid() or process.read_pid(self.pid_file)
        healthy = self._app_ready()
        detail = (
            s.postgres_db if healthy else ("starting or unresponsive" if pid is not None else "not running")
        )
        return ServiceStatus(self.name, f"{s.host}:{s.postgres_port}", pid, healthy, detail)

    def apply_schema(self) -> None:
        """Create or upgrade the serving tables (:mod:`~marketpipe.stack.pg_schema`), then the BI role."""
        pg_schema.apply_schema(self.settings)
        self.provision_bi_role()

    def provision_bi_role(self) -> None:
        """Create (or reset) the read-only BI login (:func:`marketpipe.stack.pg_access.provision_bi_role`)."""
        with self._superuser_conn(dbname=self.settings.postgres_db) as conn:
            pg_access.provision_bi_role(conn, self.settings)

    # --- internals -------------------------------------------------------------------------------

    def _as_postgres(self, argv: Sequence[str]) -> list[str]:
        if os.geteuid() != 0:
            return list(argv)
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", SUPERUSER, "--", *argv]

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(mode=SOCKET_DIR_MODE, exist_ok=True)
        # mkdir leaves an existing dir as it was (older versions made it 0755 or 0777): set it each time
        self.socket_dir.chmod(SOCKET_DIR_MODE)
        socket_path = self.socket_dir / f".s.PGSQL.{self.settings.postgres_port}"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            raise ServiceError(
                f"postgres: socket path {socket_path} is longer than {_MAX_SOCKET_PATH} bytes; "
                "use a shorter MARKETPIPE_DATA_DIR"
            )
        if os.geteuid() != 0:
            return
        try:
            pg = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise InstallError("no 'postgres' OS user; reinstall the postgresql package") from None
        # The server runs as postgres and must reach its data dir through directories root created.
        for d in (self.settings.data_dir, self.root):
            mode = d.stat().st_mode
            if d.stat().st_uid == os.geteuid() and not mode & stat.S_IXOTH:
                d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        for d in (self.data_dir, self.socket_dir):
            if d.stat().st_uid != pg.pw_uid:
                os.chown(d, pg.pw_uid, pg.pw_gid)
        if not self._postgres_can_enter(self.root):
            blocked = next(
                (p for p in reversed([self.root, *self.root.parents]) if not self._postgres_can_enter(p)),
                self.root,
            )
            raise ServiceError(
                f"postgres: the 'postgres' user cannot traverse {blocked}, so it cannot reach "
                f"{self.data_dir}; set MARKETPIPE_DATA_DIR to a path every user can traverse "
                "(e.g. under /var/tmp or /srv)"
            )

    def _postgres_can_enter(self, directory: Path) -> bool:
        return (
            subprocess.run(
                self._as_postgres(["test", "-x", str(directory)]), capture_output=True, check=False
            ).returncode
            == 0
        )

    def _initdb(self, bindir: Path) -> None:
        proc = subprocess.run(
            self._as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    # _write_config() replaces pg_hba.conf before the first start; no trust meanwhile.
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise ServiceError(f"postgres: initdb {self.data_dir} failed:\n{proc.stdout}{proc.stderr}")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# Settings that follow marketpipe's settings, rewritten on every start.\n")
            conf.write("include_if_exists = 'marketpipe.conf'\n")

    def _write_config(self) -> bool:
        """Write ``marketpipe.conf``, ``pg_hba.conf`` and ``pg_ident.conf``; True if any of them changed."""
        s = self.settings
        values = {
            "listen_addresses": s.host,
            "port": s.postgres_port,
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": 100,
            # The pipeline is UTC inside; sessions see timestamptz in UTC unless they ask otherwise.
            "timezone": "UTC",
            "log_timezone": "UTC",
            # stderr is the log file spawn() opened for us (settings.log_dir is not writable by postgres).
            "log_destination": "stderr",
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] %q%u@%d ",
            "password_encryption": "scram-sha-256",
            # When each row version was committed (pg_xact_commit_timestamp): the bar latency benchmark
            # (bench/latency.py) and anyone asking how fresh a bar is. A few bytes per transaction.
            "track_commit_timestamp": "on",
        }
        lines = [f"{k} = {_conf_value(v)}" for k, v in values.items()]
        files = {
            "marketpipe.conf": "# Written by marketpipe on every start; edit the settings, not this file.\n"
            + "\n".join(lines)
            + "\n",
            "pg_hba.conf": hba_conf(s.host),
            "pg_ident.conf": ident_conf(self._superuser_os_users()),
        }
        owner = pwd.getpwnam(SUPERUSER) if os.geteuid() == 0 else None
        changed = False
        for name, text in files.items():
            target = self.data_dir / name
            if target.exists() and target.read_text() == text:
                continue
            changed = True
            target.write_text(text)
            target.chmod(0o600)
            if owner is not None:
                os.chown(target, owner.pw_uid, owner.pw_gid)
        return changed

    def _superuser_os_users(self) -> list[str]:
        """OS users that may be the superuser over the socket: the server's user and ours."""
        me = pwd.getpwuid(os.geteuid()).pw_name
        return [SUPERUSER, me] if os.geteuid() == 0 else [me]

    def _reload(self) -> None:
        """Check the access files just written, then make the running server re-read them."""
        try:
            with self._superuser_conn() as conn:
                bad = conn.execute(
                    "SELECT 'pg_hba.conf line ' || line_number || ': ' || error FROM pg_hba_file_rules"
                    " WHERE error IS NOT NULL UNION ALL SELECT 'pg_ident.conf line ' || line_number"
                    " || ': ' || error FROM pg_ident_file_mappings WHERE error IS NOT NULL"
                ).fetchall()
                if bad:
                    raise ServiceError("postgres: " + "; ".join(str(r[0]) for r in bad))
                before = conn.execute("SELECT pg_conf_load_time()").fetchone()
                conn.execute("SELECT pg_reload_conf()")

            # The postmaster re-reads on SIGHUP, asynchronously; sessions forked after that see the
            # new load time. Wait for it so no later step connects under the old rules.
            def reloaded() -> bool:
                with self._superuser_conn() as conn:
                    return conn.execute("SELECT pg_conf_load_time()").fetchone() != before

            process.wait_until(
                reloaded, timeout=10.0, what="postgres configuration reload", interval=0.05
            )
        except psycopg.Error as exc:
            raise ServiceError(f"postgres: reloading the configuration failed: {exc}") from exc

    def _postmaster_pid(self) -> int | None:
        """The running postmaster's pid from ``postmaster.pid`` (ignoring a stale file after a crash)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return None
        return pid if comm.startswith("postgres") and process.pid_alive(pid) else None

    def _superuser_conn(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.settings.postgres_port,
            user=SUPERUSER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=3,
        )

    def _superuser_ready(self) -> bool:
        try:
            with self._superuser_conn() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _app_ready(self) -> bool:
        if not process.port_open(self.settings.host, self.settings.postgres_port):
            return False
        try:
            with psycopg.connect(self.settings.postgres_dsn, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _provision(self) -> None:
        """Create the app role and database if absent; reset the role's password and attributes.

        The app role is no superuser and may create neither roles nor databases: it owns the
        database (so the schemas, tables and Iceberg catalog tables it creates are its own) and
        nothing else. ``postgres`` and ``template1`` are closed to PUBLIC, so other logins (the BI
        role) cannot connect there and make temp tables.
        """
        s = self.settings
        user, db = s.postgres_user, s.postgres_db
        try:
            with self._superuser_conn() as conn:
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
                conn.execute(
                    sql.SQL(
                        "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                        "PASSWORD {}"
                    ).format(
                        sql.SQL("ALTER" if exists else "CREATE"),
                        sql.Identifier(user),
                        sql.Literal(scram_verifier(conn, user, s.postgres_password.get_secret_value())),
                    )
                )
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is None:
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(db), sql.Identifier(user)
                        )
                    )
                conn.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db), sql.Identifier(user))
                )
                conn.execute("REVOKE CONNECT, TEMPORARY ON DATABASE postgres, template1 FROM PUBLIC")
        except psycopg.Error as exc:
            raise ServiceError(f"postgres: creating role {user} / database {db} failed: {exc}") from exc


def _conf_value(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
