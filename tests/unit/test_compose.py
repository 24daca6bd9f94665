"""docker-compose.yml is valid Compose and wires the services the deployment needs.

``docker compose config`` only parses and interpolates the file, so no Docker engine is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from typing import Any

import pytest

from marketpipe.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
EXPECTED_SERVICES = {
    "kafka",
    "postgres",
    "flink-jobmanager",
    "flink-taskmanager",
    "pipeline",
    "collector",
    "dagster",
    "monitoring-config",
    "metrics-exporter",
    "postgres-exporter",
    "prometheus",
    "alertmanager",
    "grafana",
    "chart",
    "schema-registry",
}
FLINK_IMAGE_SERVICES = (
    "flink-jobmanager", "flink-taskmanager", "pipeline", "collector", "monitoring-config", "metrics-exporter",
    "chart",
)


@cache
def _why_no_compose() -> str | None:
    """Why Compose cannot run here, or None when ``docker compose`` works (asked once per session)."""
    docker = shutil.which("docker")
    if docker is None:
        return "the docker CLI is not on PATH; it is needed to validate docker-compose.yml"
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        return (
            "the docker CLI has no compose plugin (`docker compose version` failed); "
            "`make compose-plugin` builds one (make test does it first)"
        )
    return None


def _compose() -> list[str]:
    """argv prefix of the Compose v2 CLI; fail, saying why, when there is none."""
    reason = _why_no_compose()
    if reason is not None:
        pytest.fail(reason)
    return ["docker", "compose", "-f", str(COMPOSE_FILE)]


# The PostgreSQL administrator password has no default (docker-compose.yml requires it).
ADMIN_ENV = {
    "MARKETPIPE_POSTGRES_ADMIN_PASSWORD": "compose-test-admin",
    "MARKETPIPE_GRAFANA_ADMIN_PASSWORD": "compose-test-grafana",
}


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # cwd is the repo root so relative paths in the file (build context, schema mount) resolve as in use.
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
                          env={**os.environ, **ADMIN_ENV, **(env or {})})


@pytest.fixture(scope="module")
def compose() -> list[str]:
    return _compose()


@pytest.fixture(scope="module")
def config(compose: list[str]) -> dict[str, Any]:
    result = _run([*compose, "config", "--format", "json"])
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_config_is_valid(compose: list[str]) -> None:
    result = _run([*compose, "config", "--quiet"])
    assert result.returncode == 0, result.stderr


def test_expected_services(config: dict[str, Any]) -> None:
    assert set(config["services"]) >= EXPECTED_SERVICES


def test_flink_services_share_one_build(config: dict[str, Any]) -> None:
    services = config["services"]
    builds = {json.dumps(services[name].get("build"), sort_keys=True) for name in FLINK_IMAGE_SERVICES}
    images = {services[name].get("image") for name in FLINK_IMAGE_SERVICES}
    assert len(builds) == 1 and "null" not in builds, builds
    assert len(images) == 1 and None not in images, images
    build = services["flink-jobmanager"]["build"]
    assert build["dockerfile"] == "docker/flink/Dockerfile"
    assert (REPO_ROOT / build["dockerfile"]).is_file()


def test_pipeline_waits_for_its_dependencies(config: dict[str, Any]) -> None:
    depends = config["services"]["pipeline"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["flink-jobmanager"]["condition"] == "service_healthy"
    assert depends["kafka-topics"]["condition"] == "service_completed_successfully"


def test_host_ports_are_loopback_only(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"


def test_compose_creates_every_topic_the_pipeline_uses(config: dict[str, Any]) -> None:
    from marketpipe.settings import Settings

    script = " ".join(config["services"]["kafka-topics"]["command"])
    for topic in Settings().topics:
        assert f" {topic} " in f" {script} ".replace(";", " "), f"kafka-topics does not create {topic}"


def test_dagster_service_runs_the_orchestration_image(config: dict[str, Any]) -> None:
    dagster = config["services"]["dagster"]
    assert dagster["build"]["dockerfile"] == "docker/orchestration/Dockerfile"
    assert (REPO_ROOT / "docker/orchestration/Dockerfile").is_file()
    assert dagster["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert dagster["environment"]["MARKETPIPE_POSTGRES_HOST"] == "postgres"


def test_kafka_security_settings_reach_every_marketpipe_service(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS/SASL to an external Kafka (docs/security.md) is set from the host's MARKETPIPE_KAFKA_* variables;
    unset, they interpolate to PLAINTEXT and empty strings, which the settings read as unset."""
    from marketpipe.kafka_security import librdkafka_config
    from marketpipe.settings import Settings

    defaults = {
        "MARKETPIPE_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "MARKETPIPE_KAFKA_SASL_MECHANISM": "",
        "MARKETPIPE_KAFKA_SASL_USERNAME": "",
        "MARKETPIPE_KAFKA_SASL_PASSWORD": "",
        "MARKETPIPE_KAFKA_SSL_CA_FILE": "",
    }
    for name in ("pipeline", "collector", "dagster"):
        environment = config["services"][name]["environment"]
        for variable, default in defaults.items():
            assert variable in environment, f"{name} does not get {variable}"
            if variable not in os.environ:
                assert environment[variable] == default, (name, variable)
    for variable in defaults:
        monkeypatch.setenv(variable, config["services"]["pipeline"]["environment"][variable])
    settings = Settings(_env_file=None)
    if not any(variable in os.environ for variable in defaults):
        assert settings.kafka_sasl_mechanism is None and settings.kafka_ssl_ca_file is None
        assert librdkafka_config(settings) == {}


def test_kafka_security_variables_are_interpolated(compose: list[str]) -> None:
    given = {
        "MARKETPIPE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "MARKETPIPE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "MARKETPIPE_KAFKA_SASL_USERNAME": "svc",
        "MARKETPIPE_KAFKA_SASL_PASSWORD": "pw",
        "MARKETPIPE_KAFKA_SSL_CA_FILE": "/etc/kafka/ca.pem",
    }
    result = subprocess.run(
        [*compose, "config", "--format", "json"], capture_output=True, text=True, timeout=120,
        cwd=REPO_ROOT, env={**os.environ, **ADMIN_ENV, **given}, check=False,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name in ("pipeline", "collector", "dagster"):
        for variable, value in given.items():
            assert services[name]["environment"][variable] == value, (name, variable)


def test_postgres_superuser_is_not_the_pipeline_role(config: dict[str, Any]) -> None:
    env = config["services"]["postgres"]["environment"]
    assert env["POSTGRES_USER"] == "postgres" and env["MARKETPIPE_POSTGRES_USER"] == "marketpipe"
    assert env["POSTGRES_PASSWORD"] == ADMIN_ENV["MARKETPIPE_POSTGRES_ADMIN_PASSWORD"]
    mounts = {v["target"] for v in config["services"]["postgres"]["volumes"]}
    assert "/docker-entrypoint-initdb.d/00-marketpipe-roles.sh" in mounts


def test_config_refuses_to_run_without_an_admin_password(compose: list[str]) -> None:
    result = _run([*compose, "config", "-q"], env={"MARKETPIPE_POSTGRES_ADMIN_PASSWORD": ""})
    assert result.returncode != 0 and "MARKETPIPE_POSTGRES_ADMIN_PASSWORD" in result.stderr


def test_monitoring_is_wired(config: dict[str, Any]) -> None:
    """Prometheus and Alertmanager read what the one-shot rendered; every scrape target it names is a
    service of this file; Grafana gets the provisioned datasource and dashboards; each has a health check."""
    services = config["services"]
    render = " ".join(services["monitoring-config"]["command"])
    assert "marketpipe metrics render" in render
    for address in ("alertmanager:9093", "metrics-exporter:9400", "postgres-exporter:9187", "kafka:9404",
                    "collector:9464"):
        host = address.split(":")[0]
        assert address in render and host in services, address
    for name in ("prometheus", "alertmanager", "kafka"):
        assert services[name]["depends_on"]["monitoring-config"]["condition"] == "service_completed_successfully"
        assert any(v["target"] == "/etc/marketpipe" for v in services[name]["volumes"]), name
    assert "9404" in services["kafka"]["environment"]["KAFKA_OPTS"]
    assert services["collector"]["environment"]["MARKETPIPE_FEED_METRICS_PORT"] == "9464"
    mounts = {v["target"]: v.get("source", "") for v in services["grafana"]["volumes"]}
    assert mounts["/etc/grafana/provisioning"].endswith("docker/grafana/provisioning")
    assert mounts["/var/lib/grafana/dashboards"].endswith("docker/grafana/dashboards")
    assert services["chart"]["environment"]["MARKETPIPE_PROMETHEUS_HOST"] == "prometheus"
    for name in ("prometheus", "alertmanager", "grafana", "chart", "metrics-exporter"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_config_refuses_to_run_without_a_grafana_password(compose: list[str]) -> None:
    result = _run([*compose, "config", "-q"], env={"MARKETPIPE_GRAFANA_ADMIN_PASSWORD": ""})
    assert result.returncode != 0 and "MARKETPIPE_GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_pipeline_registers_its_contracts_in_the_registry(config: dict[str, Any]) -> None:
    """Avro topics need the registry: every marketpipe service is pointed at it, and the job submitter
    (which registers the contracts) waits for it to be healthy."""
    services = config["services"]
    assert services["pipeline"]["depends_on"]["schema-registry"]["condition"] == "service_healthy"
    assert services["schema-registry"]["healthcheck"]["test"]
    # (the Flink processes need no address: the job's SQL carries the registry URL, rendered at submit)
    for name in ("pipeline", "collector", "monitoring-config", "metrics-exporter", "chart", "dagster"):
        env = services[name]["environment"]
        assert env.get("MARKETPIPE_SCHEMA_REGISTRY_HOST") == "schema-registry", name
