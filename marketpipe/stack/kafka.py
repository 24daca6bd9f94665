"""A single-node Apache Kafka 4.x in KRaft mode (one JVM is both broker and controller).

Everything lives under ``<data_dir>/kafka``: ``server.properties`` and ``log4j2.properties``
(rewritten on every start so they follow the settings), ``cluster.id`` and the log segments in
``data/``. Storage is formatted once, on the first start; its ``meta.properties`` marks it done.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from marketpipe.exceptions import InstallError, ServiceError
from marketpipe.kafka_security import librdkafka_config
from marketpipe.monitoring.config import KAFKA_JMX_CONFIG
from marketpipe.settings import Settings
from marketpipe.stack import process
from marketpipe.stack.jars import ensure_jars, kafka_classpath, kafka_jmx_agent
from marketpipe.stack.process import ServiceStatus

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
# A replayed day of ticks must survive a week of development; disk, not time, is the real bound.
RETENTION_HOURS = 24 * 7

# Loggers that write a line per request, partition or segment at INFO.
_QUIET_LOGGERS = {
    "kafka.request.logger": "WARN",
    "kafka.network.RequestChannel$": "WARN",
    "state.change.logger": "WARN",
    "kafka.log.LogCleaner": "WARN",
    "org.apache.kafka.storage.internals.log": "WARN",
    "kafka.cluster.Partition": "WARN",
    "org.apache.kafka.clients": "WARN",
    "org.apache.kafka.common.utils.AppInfoParser": "WARN",
    # Dumps every config value (~350 lines) once per internal component; server.properties has ours.
    "org.apache.kafka.common.config.AbstractConfig": "WARN",
}


class KafkaService:
    """Start, stop and check the local broker; create the pipeline's topics."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.data_dir / "kafka"
        self.data_dir = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.log4j_file = self.home / "log4j2.properties"
        self.pid_file = settings.run_dir / "kafka.pid"
        self.log_file = settings.log_dir / "kafka.log"
        # JVM output that log4j never sees (crashes before logging starts, OOM, GC warnings).
        self.out_file = settings.log_dir / "kafka.out"

    def start(self) -> None:
        """Start the broker and wait until it answers metadata requests; a no-op if it already does."""
        s = self.settings
        pid = process.read_pid(self.pid_file)
        if pid is not None:
            # Ours and still starting (or healthy): waiting is all there is to do.
            self._wait_healthy(pid)
            return
        if process.port_open(s.host, s.kafka_port) or process.port_open(s.host, s.kafka_controller_port):
            raise ServiceError(
                f"kafka: port {s.kafka_port} or {s.kafka_controller_port} on {s.host} is taken by a process "
                f"not started by marketpipe (no live pid in {self.pid_file}); "
                "stop it or set MARKETPIPE_KAFKA_PORT / MARKETPIPE_KAFKA_CONTROLLER_PORT"
            )
        if s.monitoring and process.port_open(s.host, s.kafka_jmx_exporter_port):
            raise ServiceError(
                f"kafka: the JMX exporter port {s.kafka_jmx_exporter_port} on {s.host} is taken; "
                "stop what holds it or set MARKETPIPE_KAFKA_JMX_EXPORTER_PORT"
            )
        ensure_jars(s)
        java = _java()
        self.home.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._server_properties())
        self.log4j_file.write_text(self._log4j2_properties())
        if not (self.data_dir / "meta.properties").exists():
            self._format(java)
        pid = process.spawn(
            [
                java,
                f"-Xmx{s.kafka_heap}",
                f"-Xms{s.kafka_heap}",
                # The whole heap is resident from the start: memory growth then means a leak, not
                # warm-up (make soak measures it).
                "-XX:+AlwaysPreTouch",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.log4j_file}",
                f"-Dkafka.logs.dir={s.log_dir}",
                *self._jmx_agent_options(),
                "-cp",
                kafka_classpath(s),
                "kafka.Kafka",
                str(self.config_file),
            ],
            pid_file=self.pid_file,
            log_file=self.out_file,
            cwd=self.home,
        )
        self._wait_healthy(pid)

    def stop(self) -> bool:
        """End the broker started by :meth:`start` (controlled shutdown on SIGTERM); True if one ran."""
        return process.stop_pid(self.pid_file, name=self.name, timeout=STOP_TIMEOUT_S)

    def status(self) -> ServiceStatus:
        """Address, pid and whether the broker answers an AdminClient metadata request."""
        pid = process.read_pid(self.pid_file)
        healthy = self._healthy()
        detail = "" if healthy else ("starting or unresponsive" if pid is not None else "not running")
        return ServiceStatus(self.name, self.settings.kafka_bootstrap, pid, healthy, detail)

    def ensure_topics(self) -> list[str]:
        """Create every topic in ``settings.topics`` that does not exist yet; return the ones created.

        Existing topics are left as they are, even with a different partition count: shrinking is
        impossible and growing would move keys to other partitions mid-stream.
        """
        s = self.settings
        admin = self._admin()
        try:
            existing = set(admin.list_topics(timeout=10).topics)
        except KafkaException as exc:
            raise ServiceError(f"kafka: cannot list topics on {s.kafka_bootstrap}: {exc}") from exc
        missing = [t for t in s.topics if t not in existing]
        if not missing:
            return []
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=s.kafka_partitions, replication_factor=1) for t in missing],
            operation_timeout=30,
            request_timeout=30,
        )
        created: list[str] = []
        for topic, future in futures.items():
            try:
                future.result()
                created.append(topic)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # created concurrently: fine
                    raise ServiceError(f"kafka: cannot create topic {topic}: {exc}") from exc
        return created

    # --- internals -------------------------------------------------------------------------------

    def _admin(self) -> AdminClient:
        return AdminClient(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                **librdkafka_config(self.settings),  # TLS/SASL of an external cluster
                "socket.timeout.ms": 5000,
                # Health checks probe a broker that may be down; its connect errors are expected.
                "log_level": 2,
            }
        )

    def _jmx_agent_options(self) -> list[str]:
        """``-javaagent:`` of the Prometheus JMX exporter when monitoring is on (serves /metrics)."""
        s = self.settings
        if not s.monitoring:
            return []
        return [f"-javaagent:{kafka_jmx_agent(s)}={s.host}:{s.kafka_jmx_exporter_port}:{KAFKA_JMX_CONFIG}"]

    def _healthy(self) -> bool:
        if not process.port_open(self.settings.host, self.settings.kafka_port):
            return False
        try:
            self._admin().list_topics(timeout=5)
        except KafkaException:
            return False
        return True

    def _wait_healthy(self, pid: int) -> None:
        try:
            process.wait_until(
                self._healthy,
                timeout=START_TIMEOUT_S,
                what=f"kafka on {self.settings.kafka_bootstrap}",
                alive=lambda: process.pid_alive(pid),
                log_file=self.log_file,
            )
        except ServiceError as exc:
            out = (
                self.out_file.read_text(errors="replace").splitlines()[-15:] if self.out_file.exists() else []
            )
            raise ServiceError(f"{exc}\n--- last lines of {self.out_file} ---\n" + "\n".join(out)) from None

    def _format(self, java: str) -> None:
        cluster_id = self._cluster_id()
        proc = subprocess.run(
            [
                java,
                # A one-shot tool: the C1 compiler and the serial collector start it faster.
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                f"-Dlog4j2.configurationFile={self.log4j_file}",
                "-cp",
                kafka_classpath(self.settings),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config_file),
                "--standalone",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise ServiceError(
                f"kafka: formatting {self.data_dir} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}"
            )

    def _cluster_id(self) -> str:
        """The cluster id, generated once and kept beside the data so a re-format reuses it."""
        id_file = self.home / "cluster.id"
        if id_file.exists():
            return id_file.read_text().strip()
        cluster_id = _random_kafka_uuid()
        id_file.write_text(cluster_id + "\n")
        return cluster_id

    def _server_properties(self) -> str:
        s = self.settings
        broker = f"{s.host}:{s.kafka_port}"
        controller = f"{s.host}:{s.kafka_controller_port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Dynamic quorum (KIP-853): what `StorageTool format --standalone` expects.
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(s.kafka_partitions),
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "log.retention.hours": str(RETENTION_HOURS),
            "log.retention.bytes": "-1",
            # Consumers in tests and the Flink source join one at a time; do not make each wait 3 s.
            "group.initial.rebalance.delay.ms": "0",
            # Topics come from ensure_topics() with the configured partition count, never from a typo.
            "auto.create.topics.enable": "false",
        }
        lines = ["# Written by marketpipe on every start; edit the settings, not this file."]
        lines += [f"{k}={v}" for k, v in props.items()]
        return "\n".join(lines) + "\n"

    def _log4j2_properties(self) -> str:
        log = self.log_file
        lines = [
            "status = warn",
            "name = marketpipe-kafka",
            "appender.file.type = RollingFile",
            "appender.file.name = file",
            f"appender.file.fileName = {log}",
            f"appender.file.filePattern = {log}.%i",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d{ISO8601}{UTC}] %p %m (%c)%n",
            "appender.file.policies.type = Policies",
            "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
            "appender.file.policies.size.size = 50MB",
            "appender.file.strategy.type = DefaultRolloverStrategy",
            "appender.file.strategy.max = 5",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = file",
        ]
        for i, (logger, level) in enumerate(_QUIET_LOGGERS.items()):
            lines += [f"logger.q{i}.name = {logger}", f"logger.q{i}.level = {level}"]
        return "\n".join(lines) + "\n"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise InstallError(
            "java is not on PATH; Kafka 4.x needs Java 17+ (apt-get install -y openjdk-17-jre-headless)"
        )
    return java


def _random_kafka_uuid() -> str:
    """Same format as ``kafka-storage random-uuid``: 16 random bytes, URL-safe base64, no padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka rejects ids that look like command-line flags
            return text
