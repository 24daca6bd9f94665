"""A standalone Flink session cluster (one jobmanager, one taskmanager) on loopback.

The cluster runs from the PyFlink distribution inside the venv without touching it: a FLINK_HOME is
composed under ``<data_dir>/flink/home`` from copies of ``bin/``, symlinks to the distribution's jars
plus the connector jars of ``jvm/flink``, and a generated ``conf/config.yaml``. Both daemons are started
with ``start-foreground``, which ``exec``s the JVM, so the PID files of :mod:`marketpipe.stack.process`
name the JVMs themselves; their Python UDF workers are children in the same process group and end with them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from marketpipe.exceptions import InstallError, ServiceError
from marketpipe.settings import REPO_ROOT, Settings
from marketpipe.stack import process
from marketpipe.stack.process import ServiceStatus

FLINK_VERSION = "2.1.3"
_START_TIMEOUT_S = 120.0
# Log configuration the bin/ scripts expect next to config.yaml.
_CONF_COPIES = ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                "log4j-session.properties", "logback.xml", "logback-console.xml", "logback-session.xml")


def pyflink_dir() -> Path:
    """The installed ``pyflink`` package (found without importing it, so no JVM starts)."""
    spec = importlib.util.find_spec("pyflink")
    if spec is None or not spec.submodule_search_locations:
        raise InstallError("pyflink is not installed in this interpreter (pip install apache-flink)")
    return Path(next(iter(spec.submodule_search_locations)))


def venv_python() -> Path:
    """Interpreter for the Flink client and the Python UDF workers: the repository venv if present.

    Not ``resolve()``d: the venv's ``python`` is a symlink, and following it would leave the venv.
    """
    candidate = REPO_ROOT / ".venv" / "bin" / "python"
    return candidate if candidate.exists() else Path(sys.executable).absolute()


class FlinkService:
    """Compose, start, check and stop the local Flink session cluster."""

    name = "flink"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._dist = pyflink_dir()
        self._root = settings.data_dir / "flink"
        self._jm_pid = settings.run_dir / "flink-jobmanager.pid"
        self._tm_pid = settings.run_dir / "flink-taskmanager.pid"
        self._log_dir = settings.log_dir / "flink"

    # --- composition -------------------------------------------------------------------------

    @property
    def flink_home(self) -> Path:
        """FLINK_HOME whose ``bin/flink`` submits jobs: the composed one, or a deployment's own
        (``MARKETPIPE_FLINK_HOME``, e.g. ``/opt/flink`` in the compose image)."""
        return self.settings.flink_home or self._root / "home"

    @property
    def jobmanager_pid_file(self) -> Path:
        """PID file of the jobmanager JVM."""
        return self._jm_pid

    @property
    def taskmanager_pid_file(self) -> Path:
        """PID file of the taskmanager JVM (its Python workers share its process group)."""
        return self._tm_pid

    @property
    def checkpoint_dir(self) -> Path:
        """Where checkpoints of every job go (retained on cancellation)."""
        return self._root / "checkpoints"

    @property
    def savepoint_dir(self) -> Path:
        """Default target of savepoints."""
        return self._root / "savepoints"

    def flink_env(self) -> dict[str, str]:
        """Environment for ``bin/flink`` and the daemon scripts: this FLINK_HOME and nothing inherited."""
        home = self.flink_home
        env = dict(os.environ)
        # A caller running inside a PyFlink process must not hand its gateway to the client.
        for key in ("PYFLINK_GATEWAY_PORT", "_FLINK_HOME_DETERMINED", "FLINK_LIB_DIR",
                    "FLINK_OPT_DIR", "FLINK_PLUGINS_DIR", "FLINK_BIN_DIR", "HADOOP_CLASSPATH"):
            env.pop(key, None)
        env.update(
            FLINK_HOME=str(home),
            FLINK_CONF_DIR=str(home / "conf"),
            FLINK_LOG_DIR=str(self._log_dir),
            PYFLINK_CLIENT_EXECUTABLE=str(
                venv_python() if self.settings.flink_home is None else sys.executable
            ),
            TZ="UTC",
        )
        return env

    def config(self) -> dict[str, Any]:
        """The cluster configuration (flat Flink 2.x keys) written to ``conf/config.yaml``."""
        s = self.settings
        host = s.host
        python = str(venv_python())
        return {
            "jobmanager.rpc.address": host,
            "jobmanager.rpc.port": s.flink_rpc_port,
            "jobmanager.bind-host": host,
            "jobmanager.memory.process.size": s.flink_jobmanager_memory,
            "jobmanager.execution.failover-strategy": "region",
            "taskmanager.host": host,
            "taskmanager.bind-host": host,
            # Ephemeral ports, bound to loopback by bind-host: no fixed range to collide with.
            "taskmanager.rpc.port": "0",
            "taskmanager.data.port": 0,
            "taskmanager.numberOfTaskSlots": s.flink_taskmanager_slots,
            "taskmanager.memory.process.size": s.flink_taskmanager_memory,
            "parallelism.default": s.flink_parallelism,
            "rest.address": host,
            "rest.bind-address": host,
            "rest.port": s.flink_rest_port,
            "web.submit.enable": True,
            "web.cancel.enable": True,
            "blob.server.port": "0",
            # The distribution's --add-opens flags are required on Java 17; UTC everywhere inside.
            "env.java.opts.all": f"{self._default_java_opts()} -Duser.timezone=UTC".strip(),
            # flink-console.sh keeps its own pid bookkeeping; default /tmp is shared with other clusters.
            "env.pid.dir": str(self._root / "pids"),
            "io.tmp.dirs": str(self._root / "tmp"),
            "python.executable": python,
            "python.client.executable": python,
            # Small bundles: a bar should not wait seconds in a Python buffer.
            "python.fn-execution.bundle.size": 1000,
            "python.fn-execution.bundle.time": 1000,
            "execution.checkpointing.dir": self.checkpoint_dir.as_uri(),
            "execution.checkpointing.savepoint-dir": self.savepoint_dir.as_uri(),
            "execution.checkpointing.interval": f"{s.checkpoint_interval_ms} ms",
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "execution.checkpointing.num-retained": 3,
            # A sink down for minutes (PostgreSQL, the broker) makes the job wait and retry from its
            # last checkpoint, 1 s, 2 s, 4 s ... at most 60 s apart, without ever giving up.
            "restart-strategy.type": "exponential-delay",
            "restart-strategy.exponential-delay.initial-backoff": "1 s",
            "restart-strategy.exponential-delay.max-backoff": "60 s",
            "restart-strategy.exponential-delay.backoff-multiplier": 2.0,
            "restart-strategy.exponential-delay.reset-backoff-threshold": "10 min",
            "restart-strategy.exponential-delay.jitter-factor": 0.1,
            "restart-strategy.exponential-delay.attempts-before-reset-backoff": 2147483647,
            # A checkpoint that fails while a sink is down fails the job into that same restart loop.
            "execution.checkpointing.tolerable-failed-checkpoints": 0,
            "classloader.check-leaked-classloader": False,
        }

    def compose(self) -> Path:
        """Build or refresh FLINK_HOME; files are rewritten only when their inputs changed."""
        home = self.flink_home
        dist = self._dist
        python_jar = dist / "opt" / f"flink-python-{FLINK_VERSION}.jar"
        if not (dist / "lib" / f"flink-dist-{FLINK_VERSION}.jar").exists() or not python_jar.exists():
            raise InstallError(f"{dist} is not a PyFlink {FLINK_VERSION} distribution")
        for d in (home / "conf", self._log_dir, self.checkpoint_dir, self.savepoint_dir,
                  self._root / "pids", self._root / "tmp"):
            d.mkdir(parents=True, exist_ok=True)

        # bin/ is copied, not linked: config.sh derives FLINK_HOME from the physical path of its script.
        for src in sorted((dist / "bin").iterdir()):
            if src.is_file():
                _copy_if_changed(src, home / "bin" / src.name)

        jars = [*sorted((dist / "lib").glob("*.jar")), python_jar, *self._connector_jars()]
        _sync_links(home / "lib", {j.name: j for j in jars})
        _sync_links(home / "opt", {j.name: j for j in sorted((dist / "opt").glob("*.jar"))})
        _link(home / "plugins", dist / "plugins")
        _link(home / "log", self._log_dir)

        for name in _CONF_COPIES:
            if (dist / "conf" / name).exists():
                _copy_if_changed(dist / "conf" / name, home / "conf" / name)
        text = "# Generated by marketpipe.stack.flink from Settings; edits are overwritten.\n" + yaml.safe_dump(
            self.config(), sort_keys=False, default_flow_style=False, width=1 << 16
        )
        _write_if_changed(home / "conf" / "config.yaml", text)
        return home

    def _connector_jars(self) -> list[Path]:
        """Connector jars plus marketpipe's own functions (jvm/udfs: tick parser, bar engine)."""
        jars: list[Path] = []
        for module in ("flink", "udfs"):
            lib = self.settings.jvm_dir / module / "target" / "lib"
            # slf4j-api is already inside flink-dist's log4j binding; a second copy only warns.
            jars += [j for j in sorted(lib.glob("*.jar")) if not j.name.startswith("slf4j-api-")]
        return jars

    def _default_java_opts(self) -> str:
        with open(self._dist / "conf" / "config.yaml") as f:
            conf = yaml.safe_load(f) or {}
        opts = conf.get("env", {}).get("java", {}).get("opts", {}).get("all", "")
        return str(opts or conf.get("env.java.opts.all", ""))

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the cluster and wait until a taskmanager has registered its slots; no-op if up."""
        jm = process.read_pid(self._jm_pid)
        tm = process.read_pid(self._tm_pid)
        if jm is not None and tm is not None and self._overview() is not None:
            return
        if jm is None and process.port_open(self.settings.host, self.settings.flink_rest_port):
            raise ServiceError(
                f"flink: port {self.settings.flink_rest_port} is in use by a process we did not start"
            )
        self.compose()
        env = self.flink_env()
        bin_dir = self.flink_home / "bin"
        if jm is None:
            jm = process.spawn([str(bin_dir / "jobmanager.sh"), "start-foreground"], pid_file=self._jm_pid,
                               log_file=self._log_dir / "jobmanager.out", env=env, cwd=self._root)
        if tm is None:
            # The Python workers of a taskmanager that was killed outlive it in its process group.
            process.reap_orphans(self._tm_pid, name="flink-taskmanager")
            tm = process.spawn([str(bin_dir / "taskmanager.sh"), "start-foreground"], pid_file=self._tm_pid,
                               log_file=self._log_dir / "taskmanager.out", env=env, cwd=self._root)
        jm_pid, tm_pid = jm, tm
        try:
            process.wait_until(
                lambda: _ready(self._overview()),
                timeout=_START_TIMEOUT_S,
                what="flink",
                interval=0.5,
                alive=lambda: process.pid_alive(jm_pid) and process.pid_alive(tm_pid),
                log_file=self._log_dir / "jobmanager.out",
            )
        except ServiceError:
            # Half a cluster is worse than none: the next start() must begin from a clean slate.
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the taskmanager (and its Python workers), then the jobmanager."""
        process.stop_pid(self._tm_pid, name="flink-taskmanager")
        process.stop_pid(self._jm_pid, name="flink-jobmanager")

    def status(self) -> ServiceStatus:
        """Healthy when the REST API answers and at least one taskmanager offers slots."""
        pid = process.read_pid(self._jm_pid)
        overview = self._overview() if pid is not None else None
        if overview is None:
            detail = "not running" if pid is None else "REST API not answering"
            return ServiceStatus(self.name, self.settings.flink_rest_url, pid, False, detail)
        detail = (
            f"taskmanagers={overview.get('taskmanagers')} "
            f"slots={overview.get('slots-available')}/{overview.get('slots-total')} "
            f"jobs_running={overview.get('jobs-running')}"
        )
        return ServiceStatus(self.name, self.settings.flink_rest_url, pid, _ready(overview), detail)

    def _overview(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.settings.flink_rest_url}/overview", timeout=2) as r:
                data = json.load(r)
        except (OSError, ValueError, urllib.error.URLError):
            return None
        return data if isinstance(data, dict) else None


def _ready(overview: dict[str, Any] | None) -> bool:
    # Slots in use by running jobs still count: a busy cluster is a healthy one.
    return overview is not None and overview.get("taskmanagers", 0) >= 1 and overview.get("slots-total", 0) >= 1


def _copy_if_changed(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or not dst.exists() or dst.read_bytes() != src.read_bytes():
        dst.unlink(missing_ok=True)
        shutil.copy2(src, dst)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def _link(path: Path, target: Path) -> None:
    if path.is_symlink() and Path(os.readlink(path)) == target:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def _sync_links(directory: Path, wanted: dict[str, Path]) -> None:
    """Make ``directory`` hold exactly the symlinks in ``wanted`` (name -> target)."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.name not in wanted:
            entry.unlink()
    for name, target in wanted.items():
        _link(directory / name, target)
