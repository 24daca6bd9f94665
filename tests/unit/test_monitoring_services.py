"""How the monitoring processes are launched and reported, without starting them: command lines,
the exporter's DSN, the broker's JMX agent option, and ``stack status`` with monitoring on and off.
(tests/integration/test_zy_monitoring.py runs them for real.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from marketpipe.exceptions import InstallError
from marketpipe.monitoring import config, services
from marketpipe.settings import Settings
from marketpipe.stack.jars import kafka_jmx_agent
from marketpipe.stack.kafka import KafkaService
from marketpipe.stack.launcher import Stack

MONITORING = ["postgres-exporter", "alertmanager", "marketpipe-exporter", "prometheus", "kafka-jmx"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    """Nothing listens on any of these ports."""
    ports = {
        name: _free_port()
        for name in ("kafka_port", "kafka_controller_port", "postgres_port", "flink_rest_port", "prometheus_port",
                     "alertmanager_port", "postgres_exporter_port", "kafka_jmx_exporter_port", "metrics_port",
                     "schema_registry_port")
    }
    return Settings(data_dir=tmp_path / "data", **(ports | overrides))  # type: ignore[arg-type]


def test_postgres_exporter_gets_the_dsn_only_by_environment(tmp_path: Path) -> None:
    """The password is in DATA_SOURCE_NAME, never on the command line; sslmode=disable unless set."""
    s = _settings(tmp_path, postgres_password="pw-in-env-only")
    exporter = services.PostgresExporter(s)
    try:
        argv = exporter.argv()
    except InstallError:
        pytest.fail("prometheus-postgres-exporter is not installed: `make system-deps` installs it")
    assert not any("pw-in-env-only" in a or "postgresql://" in a for a in argv)
    assert f"--web.listen-address=127.0.0.1:{s.postgres_exporter_port}" in argv
    assert exporter.env()["DATA_SOURCE_NAME"] == s.postgres_dsn + "?sslmode=disable"
    assert services.exporter_dsn(_settings(tmp_path, postgres_sslmode="require")).endswith("?sslmode=require")


def test_daemons_listen_on_loopback_ports_of_the_settings(tmp_path: Path) -> None:
    """Prometheus (lifecycle API, rendered config), Alertmanager (no cluster port), `marketpipe metrics serve`."""
    s = _settings(tmp_path)
    try:
        prometheus = services.Prometheus(s).argv()
        alertmanager = services.Alertmanager(s).argv()
    except InstallError:
        pytest.fail("prometheus / prometheus-alertmanager not installed: `make system-deps` installs it")
    assert f"--web.listen-address=127.0.0.1:{s.prometheus_port}" in prometheus
    assert f"--config.file={config.files(s).config}" in prometheus
    assert "--web.enable-lifecycle" in prometheus
    assert f"--web.listen-address=127.0.0.1:{s.alertmanager_port}" in alertmanager
    assert "--cluster.listen-address=" in alertmanager
    exporter = services.MarketpipeExporter(s)
    assert exporter.argv()[1:] == ["metrics", "serve"]
    assert Path(exporter.argv()[0]).name == "marketpipe"
    assert exporter.env()["MARKETPIPE_METRICS_PORT"] == str(s.metrics_port)


def test_kafka_loads_the_jmx_agent_only_with_monitoring(tmp_path: Path) -> None:
    """``-javaagent:<jar>=host:port:<config>`` when monitoring is on; nothing when it is off."""
    on = _settings(tmp_path)
    try:
        agent = kafka_jmx_agent(on)
    except InstallError:
        pytest.fail("the JMX agent jar is not built: `make install` builds it")
    assert KafkaService(on)._jmx_agent_options() == [
        f"-javaagent:{agent}=127.0.0.1:{on.kafka_jmx_exporter_port}:{config.KAFKA_JMX_CONFIG}"
    ]
    assert agent.name == "jmx_prometheus_javaagent-1.0.1.jar"
    assert KafkaService(_settings(tmp_path, monitoring=False))._jmx_agent_options() == []


def test_status_lists_monitoring_only_when_on(tmp_path: Path) -> None:
    """With monitoring on, each process is a (here: down) service of `stack status`; off, none is."""
    on = Stack(_settings(tmp_path))
    services_on = on.status()
    names = [svc.name for svc in services_on]
    assert names[:5] == ["postgres", "kafka", "flink", "iceberg", "schema-registry"]
    assert names[5:] == MONITORING
    assert not any(svc.healthy for svc in services_on[4:])
    report = on.status_json(services_on, jobs=[])
    assert report["prometheus_url"] == f"http://127.0.0.1:{on.settings.prometheus_port}"
    assert report["services_healthy"] is False

    off = Stack(_settings(tmp_path, monitoring=False, schema_registry=False))
    services_off = off.status()
    assert [svc.name for svc in services_off] == ["postgres", "kafka", "flink", "iceberg"]
    assert off.status_json(services_off, jobs=[])["prometheus_url"] is None
