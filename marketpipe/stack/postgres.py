"""A private PostgreSQL cluster for the serving tables, run from the distribution's binaries.

The cluster lives in ``<data_dir>/postgres/data`` and listens on ``settings.host:postgres_port``
with its Unix socket in ``<data_dir>/postgres/run``, so it never meets a system cluster on 5432 or
``/var/run/postgresql``. PostgreSQL refuses to run as root; when we are root every server binary
runs as the ``postgres`` user through ``runuser``, otherwise as ourselves.
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
from marketpipe.stack import process
from marketpipe.stack.process import ServiceStatus

PREFERRED_MAJOR = "15"
BIN_ROOT = Path("/usr/lib/postgresql")
ETC_ROOT = Path("/etc/postgresql")
SCHEMA_FILE = Path(__file__).with_name("postgres_schema.sql")
SUPERUSER = "postgres"
# The schema dbt builds its marts in (dbt_project/macros/generate_schema_name.sql); the BI role reads it.
MARTS_SCHEMA = "marts"
START_TIMEOUT_S = 60.0
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
        """Initialise (once), start and provision the cluster; a no-op when the app user can already query."""
        if self._app_ready():
            return
        s = self.settings
        bindir = ensure_bindir()
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bindir)
        self._write_config()
        pid = self._postmaster_pid()
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
            subprocess.run(  # noqa: S603 - argv built here
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
        """Run ``postgres_schema.sql`` (idempotent ``CREATE ... IF NOT EXISTS``) as the app user."""
        try:
            with psycopg.connect(self.settings.postgres_dsn, connect_timeout=5) as conn:
                conn.execute(SCHEMA_FILE.read_bytes())  # no parameters: several statements are allowed
        except psycopg.Error as exc:
            raise ServiceError(f"postgres: applying {SCHEMA_FILE.name} failed: {exc}") from exc
        self.provision_bi_role()

    def provision_bi_role(self) -> None:
        """Create (or reset) the read-only BI login: CONNECT, and SELECT on the ``marts`` schema only.

        Runs as the superuser over the cluster's socket because the app role may not create roles.
        The role owns nothing and gets no grant on ``public`` or ``staging``; SELECT on tables dbt
        creates in ``marts`` later comes from the app role's default privileges (dbt also grants on
        every run, see dbt_project/macros/grant_marts_to_bi.sql). PostgreSQL 15 already denies
        CREATE on ``public`` to PUBLIC; TEMPORARY is revoked here so the role cannot write at all.
        Read-only by default transaction is a second guard, not the boundary (a session may unset it).
        """
        s = self.settings
        bi, app = sql.Identifier(s.bi_user), sql.Identifier(s.postgres_user)
        db, marts = sql.Identifier(s.postgres_db), sql.Identifier(MARTS_SCHEMA)
        try:
            with self._superuser_conn(dbname=s.postgres_db) as conn:
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (s.bi_user,)).fetchone()
                conn.execute(
                    sql.SQL(
                        "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION "
                        "PASSWORD {}"
                    ).format(
                        sql.SQL("ALTER" if exists else "CREATE"),
                        bi,
                        sql.Literal(s.bi_password.get_secret_value()),
                    )
                )
                for stmt in (
                    "ALTER ROLE {bi} SET default_transaction_read_only = on",
                    "ALTER ROLE {bi} SET search_path = {marts}",
                    "REVOKE CREATE, TEMPORARY ON DATABASE {db} FROM PUBLIC",
                    "GRANT CONNECT ON DATABASE {db} TO {bi}",
                    "CREATE SCHEMA IF NOT EXISTS {marts} AUTHORIZATION {app}",
                    "GRANT USAGE ON SCHEMA {marts} TO {bi}",
                    "GRANT SELECT ON ALL TABLES IN SCHEMA {marts} TO {bi}",
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {app} IN SCHEMA {marts} "
                    "GRANT SELECT ON TABLES TO {bi}",
                ):
                    conn.execute(sql.SQL(stmt).format(bi=bi, app=app, db=db, marts=marts))
        except psycopg.Error as exc:
            raise ServiceError(f"postgres: provisioning the BI role {s.bi_user} failed: {exc}") from exc

    # --- internals -------------------------------------------------------------------------------

    def _as_postgres(self, argv: Sequence[str]) -> list[str]:
        if os.geteuid() != 0:
            return list(argv)
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", SUPERUSER, "--", *argv]

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(mode=0o755, exist_ok=True)
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
            subprocess.run(  # noqa: S603 - argv built here
                self._as_postgres(["test", "-x", str(directory)]), capture_output=True, check=False
            ).returncode
            == 0
        )

    def _initdb(self, bindir: Path) -> None:
        proc = subprocess.run(  # noqa: S603 - argv built here
            self._as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    # The socket dir is private to this cluster; TCP always needs the password.
                    "--auth-local=trust",
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

    def _write_config(self) -> None:
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
        }
        lines = [f"{k} = {_conf_value(v)}" for k, v in values.items()]
        target = self.data_dir / "marketpipe.conf"
        target.write_text(
            "# Written by marketpipe on every start; edit the settings, not this file.\n"
            + "\n".join(lines)
            + "\n"
        )
        if os.geteuid() == 0:
            pg = pwd.getpwnam(SUPERUSER)
            os.chown(target, pg.pw_uid, pg.pw_gid)

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
        """Create the app role and database if absent; reset the role's password to the configured one."""
        s = self.settings
        user, db = s.postgres_user, s.postgres_db
        try:
            with self._superuser_conn() as conn:
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
                conn.execute(
                    sql.SQL("{} ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                        sql.SQL("ALTER" if exists else "CREATE"),
                        sql.Identifier(user),
                        sql.Literal(s.postgres_password.get_secret_value()),
                    )
                )
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is None:
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(db), sql.Identifier(user)
                        )
                    )
        except psycopg.Error as exc:
            raise ServiceError(f"postgres: creating role {user} / database {db} failed: {exc}") from exc


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
        proc = subprocess.run(  # noqa: S603 - fixed argv
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
        subprocess.run(["pg_ctlcluster", version, name, "stop"], capture_output=True, check=False)  # noqa: S603,S607
        (cluster / "start.conf").write_text(
            "# Set to manual by marketpipe, which runs its own cluster;"
            " see marketpipe/stack/postgres.py.\nmanual\n"
        )


def _major(bindir: Path) -> float:
    try:
        return float(bindir.parent.name)
    except ValueError:
        return 0.0


def _conf_value(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
