"""The monitoring processes of the local stack: Prometheus, Alertmanager, the PostgreSQL exporter and
marketpipe's own exporter (``marketpipe metrics serve``).

Each is one HTTP daemon on ``settings.host`` started like the other services
(:mod:`marketpipe.stack.process`: detached, ``<run_dir>/<name>.pid``, log in ``<log_dir>``) and healthy
when its health endpoint answers 200. ``marketpipe stack up`` starts them when ``settings.monitoring``
is on; ``down`` stops whatever their PID files name. The Kafka broker's JMX exporter is an agent
inside the broker's JVM (:mod:`marketpipe.stack.kafka`): :class:`KafkaJmxExporter` only reports on it.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from marketpipe.exceptions import InstallError, ServiceError
from marketpipe.monitoring import config
from marketpipe.settings import Settings, settings_env
from marketpipe.stack import process
from marketpipe.stack.process import ServiceStatus

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
# Debian's Prometheus serves its classic web UI only from these assets (libjs-* packages).
PROMETHEUS_WEB_ASSETS = Path("/usr/share/prometheus/web")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True if GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError, urllib.error.URLError):
        return False


class HttpDaemon:
    """One monitoring process: start (idempotent), status, stop by PID file.

    Subclasses give ``name``, the port setting, the health path and :meth:`argv`; :meth:`prepare`
    writes configuration before every start.
    """

    name = ""
    port_setting = ""
    health_path = "/-/ready"
    start_timeout_s = START_TIMEOUT_S

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid_file = settings.run_dir / f"{self.name}.pid"
        self.log_file = settings.log_dir / f"{self.name}.log"

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(getattr(self.settings, self.port_setting))

    @property
    def url(self) -> str:
        """Base URL of its HTTP interface."""
        return f"http://{self.settings.host}:{self.port}"

    def argv(self) -> list[str]:
        """The command line that starts it."""
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The environment of the process (None: ours)."""
        return None

    def prepare(self) -> None:
        """Write what the process reads at start (called before every start)."""

    def reload(self) -> None:
        """Make a running process re-read what :meth:`prepare` wrote (default: nothing to do)."""

    def healthy(self) -> bool:
        """True if its health endpoint answers 200."""
        return http_ok(self.url + self.health_path)

    def start(self) -> None:
        """Start it and wait until it is healthy; a running one only re-reads its configuration."""
        pid = process.read_pid(self.pid_file)
        if pid is not None:
            self.prepare()
            self._wait_healthy(pid)
            self.reload()
            return
        if process.port_open(self.settings.host, self.port):
            raise ServiceError(
                f"{self.name}: port {self.port} on {self.settings.host} is taken by a process not started by "
                f"marketpipe (no live pid in {self.pid_file}); stop it or set "
                f"MARKETPIPE_{self.port_setting.upper()}"
            )
        self.prepare()
        pid = process.spawn(self.argv(), pid_file=self.pid_file, log_file=self.log_file, env=self.env())
        self._wait_healthy(pid)

    def stop(self) -> bool:
        """End the process named by the PID file; True if one ran."""
        return process.stop_pid(self.pid_file, name=self.name, timeout=STOP_TIMEOUT_S)

    def status(self) -> ServiceStatus:
        """Address, pid and whether its health endpoint answers."""
        pid = process.read_pid(self.pid_file)
        healthy = self.healthy()
        detail = "" if healthy else ("starting or unresponsive" if pid is not None else "not running")
        return ServiceStatus(self.name, self.url, pid, healthy, detail)

    def _wait_healthy(self, pid: int) -> None:
        process.wait_until(
            self.healthy,
            timeout=self.start_timeout_s,
            what=f"{self.name} on {self.url}",
            alive=lambda: process.pid_alive(pid),
            log_file=self.log_file,
        )


class Prometheus(HttpDaemon):
    """Prometheus with the rendered ``prometheus.yml`` and rules, its TSDB in ``<data_dir>/prometheus``."""

    name = "prometheus"
    port_setting = "prometheus_port"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.files = config.files(settings)

    def prepare(self) -> None:
        """Render the configuration and rules from the settings."""
        config.write(self.settings)

    def reload(self) -> None:
        """``POST /-/reload`` (enabled by ``--web.enable-lifecycle``): pick up re-rendered files."""
        request = urllib.request.Request(self.url + "/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (OSError, urllib.error.URLError) as exc:
            raise ServiceError(f"prometheus: reloading {self.files.config} failed: {exc}") from exc

    def argv(self) -> list[str]:
        """``prometheus`` on loopback, lifecycle API on (reload), the classic UI's assets when present."""
        argv = [
            _binary("prometheus", "prometheus"),
            f"--config.file={self.files.config}",
            f"--storage.tsdb.path={self.files.tsdb}",
            f"--web.listen-address={self.settings.host}:{self.port}",
            "--web.enable-lifecycle",
        ]
        if PROMETHEUS_WEB_ASSETS.is_dir():
            argv.append(f"--web.local-assets={PROMETHEUS_WEB_ASSETS}/")
        return argv


class Alertmanager(HttpDaemon):
    """Alertmanager with the shipped ``alertmanager.yml``, as a single node (clustering off)."""

    name = "alertmanager"
    port_setting = "alertmanager_port"

    def argv(self) -> list[str]:
        """``prometheus-alertmanager``: state in ``<data_dir>/alertmanager``, no cluster listener."""
        storage = self.settings.data_dir / "alertmanager"
        storage.mkdir(parents=True, exist_ok=True)
        return [
            _binary("prometheus-alertmanager", "prometheus-alertmanager"),
            f"--config.file={config.ALERTMANAGER_CONFIG}",
            f"--storage.path={storage}",
            f"--web.listen-address={self.settings.host}:{self.port}",
            "--cluster.listen-address=",
        ]


class PostgresExporter(HttpDaemon):
    """prometheus-postgres-exporter logged in as the app role.

    The DSN, password included, reaches it only through its environment (``DATA_SOURCE_NAME``),
    never its command line or our output.
    """

    name = "postgres-exporter"
    port_setting = "postgres_exporter_port"
    health_path = "/metrics"

    def argv(self) -> list[str]:
        """The exporter on loopback, without its ``database`` collector: that one sizes every
        database, and the app role may not connect to ``postgres`` (closed to PUBLIC), so it would log
        an error per scrape; ``pg_stat_database_*`` still covers ours."""
        return [
            _binary("prometheus-postgres-exporter", "prometheus-postgres-exporter"),
            f"--web.listen-address={self.settings.host}:{self.port}",
            "--no-collector.database",
        ]

    def env(self) -> dict[str, str]:
        """Ours plus ``DATA_SOURCE_NAME``."""
        return {**os.environ, "DATA_SOURCE_NAME": exporter_dsn(self.settings)}


class MarketpipeExporter(HttpDaemon):
    """``marketpipe metrics serve``: Flink, Kafka lag and pipeline SLIs (marketpipe.monitoring.exporter)."""

    name = "marketpipe-exporter"
    port_setting = "metrics_port"
    health_path = "/metrics"

    def argv(self) -> list[str]:
        """The ``marketpipe`` script of this interpreter's environment."""
        return [marketpipe_script(), "metrics", "serve"]

    def env(self) -> dict[str, str]:
        """Ours plus the settings of this stack (its port, the services it reads)."""
        return {**os.environ, **settings_env(self.settings)}


class KafkaJmxExporter:
    """The JMX exporter agent inside the Kafka broker: status only (the broker starts and stops it)."""

    name = "kafka-jmx"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"http://{settings.host}:{settings.kafka_jmx_exporter_port}"

    def status(self) -> ServiceStatus:
        """The broker's pid and whether the agent's /metrics answers."""
        pid = process.read_pid(self.settings.run_dir / "kafka.pid")
        healthy = http_ok(self.url + "/metrics", timeout=5.0)
        detail = "" if healthy else ("agent not answering" if pid is not None else "kafka not running")
        return ServiceStatus(self.name, self.url + "/metrics", pid, healthy, detail)


def exporter_dsn(settings: Settings) -> str:
    """The app role's DSN for the PostgreSQL exporter. Its driver (lib/pq) requires TLS unless told
    otherwise, and the local server has none: ``sslmode=disable`` when no sslmode is set."""
    dsn = settings.postgres_dsn
    if settings.postgres_sslmode is None:
        dsn += ("&" if "?" in dsn else "?") + "sslmode=disable"
    return dsn


def marketpipe_script() -> str:
    """The ``marketpipe`` console script beside this interpreter (the venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "marketpipe"
    if beside.exists():
        return str(beside)
    found = shutil.which("marketpipe")
    if found is None:
        raise InstallError(f"no `marketpipe` script beside {sys.executable} or on PATH; pip install -e .")
    return found


def _binary(command: str, package: str) -> str:
    found = shutil.which(command) or (f"/usr/bin/{command}" if Path(f"/usr/bin/{command}").exists() else None)
    if found is None:
        raise InstallError(
            f"{command} is not installed; run `make system-deps` (apt-get install -y {package}) "
            "or set MARKETPIPE_MONITORING=false"
        )
    return found
